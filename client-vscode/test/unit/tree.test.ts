import "./vscodeStub";
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ThemeIcon } from "vscode";
import { statusText } from "../../src/status";
import { toTreeItem } from "../../src/tree";

test("a run item shows its status icon and opens its log", () => {
  const item = toTreeItem({
    kind: "run",
    runId: "r2",
    label: "run r2",
    description: "passed · run r2",
    tooltip: "run r2 · passed",
    status: "passed",
    tone: "good",
    logPath: ".mlr/runs/r2/log.txt",
  });
  assert.equal((item.iconPath as ThemeIcon).id, "pass");
  assert.deepEqual(item.command?.arguments, [".mlr/runs/r2/log.txt"]);
  assert.equal(item.command?.command, "mlrCopilot.client.openRunLog");
});

test("a run without a log has no click action", () => {
  const item = toTreeItem({ kind: "run", runId: "r1", label: "run r1", description: "failed", tooltip: "", status: "failed", tone: "bad", logPath: null });
  assert.equal((item.iconPath as ThemeIcon).id, "error");
  assert.equal(item.command, undefined);
});

test("the baseline item opens its run's log; a commit without a sha opens nothing", () => {
  const baseline = toTreeItem({ kind: "baseline", label: "Baseline: 0.8000 accuracy", description: "run r0 · aaaaaaa", tooltip: "t", logPath: "r0.log" });
  assert.deepEqual(baseline.command?.arguments, ["r0.log"]);
  assert.equal((baseline.iconPath as ThemeIcon).id, "target");
  assert.equal(toTreeItem({ kind: "commit", sha: "", label: "(no commit)", description: "", runs: [] }).command, undefined);
});

test("a commit item opens its diff and expands to its runs", () => {
  const run = { kind: "run" as const, runId: "r", label: "run r", description: "", tooltip: "", status: "ok", tone: "good" as const, logPath: null };
  const item = toTreeItem({ kind: "commit", sha: "abc123", label: "Add warmup", description: "abc123", runs: [run] });
  assert.equal(item.command?.command, "mlrCopilot.client.openCommit");
  assert.deepEqual(item.command?.arguments, ["abc123"]);
  assert.equal(item.collapsibleState, 2);
});

test("hypothesis items carry their status for context menus", () => {
  const item = toTreeItem({ kind: "hypothesis", id: "h1", label: "1. Warmup", description: "accepted", status: "accepted", commits: [] });
  assert.equal(item.contextValue, "hypothesis.accepted");
  assert.equal((item.iconPath as ThemeIcon).id, "check");
  assert.equal(item.collapsibleState, 0);
});

test("the status bar shows the running task and the spending", () => {
  const status = {
    version: "0.1.0",
    workspace: "/ws",
    provider: "scripted",
    model: "scripted",
    tasks: [{ id: "t1", title: "Run experiment" }],
    usage: { input_tokens: 12_000, output_tokens: 345, cost_usd: 0.0123 },
  };
  assert.equal(statusText("running", status), "$(sync~spin) MLR: Run experiment · 12.3k tok $0.01");
  assert.equal(statusText("running", { ...status, tasks: [], usage: { input_tokens: 5, output_tokens: 0, cost_usd: null } }), "$(beaker) MLR · 5 tok");
  assert.equal(statusText("failed", undefined), "$(error) MLR: stopped");
  assert.equal(statusText("starting", undefined), "$(loading~spin) MLR: starting");
});

test("an item that gains children gets a new id, so it arrives expanded", () => {
  const empty = toTreeItem({ kind: "hypothesis", id: "h1", label: "1. Warmup", description: "accepted", status: "accepted", commits: [] });
  const commit = { kind: "commit" as const, sha: "abc123", label: "Add warmup", description: "abc123", runs: [] };
  const grown = toTreeItem({ kind: "hypothesis", id: "h1", label: "1. Warmup", description: "accepted", status: "accepted", commits: [commit] });
  assert.equal(grown.collapsibleState, 2);
  assert.notEqual(empty.id, grown.id);
  assert.notEqual(toTreeItem(commit).id, toTreeItem({ ...commit, runs: [{ kind: "run", runId: "r", label: "run r", description: "", tooltip: "", status: "ok", tone: "good", logPath: null }] }).id);
});
