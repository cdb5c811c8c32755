import "./vscodeStub";
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ThemeIcon } from "vscode";
import { childrenOf } from "../../src/experiments";
import type { QueuedRun } from "../../src/protocol";
import { buildQueueNode, elapsedText, queueIsActive, queuedRunId, type QueuedNode } from "../../src/queue";
import { toTreeItem } from "../../src/tree";

// Entries as runners/queue.py `QueuedRun` serialises them.
const running: QueuedRun = {
  run_id: "r1", state: "running", slot: 1, gpu_ids: ["2", "3"], node: "review-sentiment", host: "box",
  elapsed_s: 125.4, reason: null, cancel_requested: false,
};
const waiting: QueuedRun = { ...running, run_id: "r2", state: "pending", slot: null, gpu_ids: [], elapsed_s: 4 };
const ended: QueuedRun = { ...running, run_id: "r0", state: "failed", elapsed_s: 7300, reason: "exit 1" };

test("the Queue node counts its runs and lists them in the server's order", () => {
  const node = buildQueueNode([ended, running, waiting]);
  assert.ok(node);
  assert.equal(node.description, "1 running, 1 waiting");
  assert.equal(node.active, true);
  assert.equal(buildQueueNode([ended])!.active, false, "only ended runs: the node stays folded");
  assert.deepEqual(childrenOf(node).map((n) => (n as QueuedNode).runId), ["r0", "r1", "r2"]);
  const [old, now, next] = node.runs;
  assert.equal(now.description, "running · slot 1 · GPU 2,3 · 2m05s");
  assert.equal(next.description, "pending · waiting for a slot · 4s");
  assert.equal(old.description, "failed · slot 1 · GPU 2,3 · 2h01m");
  assert.match(old.tooltip, /exit 1/);
  assert.deepEqual(node.runs.map((n) => n.cancellable), [false, true, true]);
});

test("no queue node when nothing is queued; polling only while a run waits or runs", () => {
  assert.equal(buildQueueNode([]), undefined);
  assert.equal(queueIsActive([ended]), false);
  assert.equal(queueIsActive([ended, waiting]), true);
});

test("a run whose cancel was asked shows it and offers Cancel no more", () => {
  const [node] = buildQueueNode([{ ...running, cancel_requested: true }])!.runs;
  assert.match(node.description, /cancelling$/);
  assert.equal(node.cancellable, false);
  assert.equal(toTreeItem(node).contextValue, "queued.running");
});

test("queued items: the icon of their state and the context value the Cancel menu matches", () => {
  const [now, next] = buildQueueNode([running, waiting])!.runs;
  const item = toTreeItem(now);
  assert.equal(item.contextValue, "queued.running.cancellable");
  assert.equal((item.iconPath as ThemeIcon).id, "sync~spin");
  assert.equal((toTreeItem(next).iconPath as ThemeIcon).id, "clock");
  assert.match("queued.pending.cancellable", /^queued\.\w+\.cancellable$/);
});

test("Cancel takes a tree node or a run id", () => {
  const [node] = buildQueueNode([running])!.runs;
  assert.equal(queuedRunId(node), "r1");
  assert.equal(queuedRunId("r9"), "r9");
  assert.equal(queuedRunId({ kind: "run", runId: "r1" }), undefined);
  assert.equal(elapsedText(59.9), "59s");
});
