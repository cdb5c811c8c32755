import assert from "node:assert/strict";
import { test } from "node:test";
import type { BatchItem, RunRecord } from "../../src/protocol";
import { batchSummary, checkoutFolder, runIdArg, runPicks } from "../../src/runBatch";

const run = (fields: Partial<RunRecord>): RunRecord => ({ id: "r", status: "passed", ...fields });

test("a batch's summary counts the runs by status and names why the others did not run", () => {
  const items: BatchItem[] = [
    { target: "h1", branch: "mlr/h1-a", commit: "a".repeat(40), run: run({ id: "r1" }) },
    { target: "h2", branch: "mlr/h2-b", commit: "b".repeat(40), run: run({ id: "r2", status: "failed" }) },
    { target: "h5", branch: "mlr/h5-c", commit: "c".repeat(40), run: run({ id: "r5" }) },
    { target: "h3", branch: "mlr/h3-idea", commit: null, run: null, error: "h3 has no branch mlr/h3-idea: implement it first" },
  ];
  assert.deepEqual(batchSummary(items), {
    message: "MLR-Copilot: 3 runs of accepted hypotheses (2 passed, 1 failed). Not run: h3 has no branch mlr/h3-idea: implement it first.",
    warn: true,
  });
  assert.deepEqual(batchSummary([items[0]]), { message: "MLR-Copilot: 1 run of accepted hypotheses (1 passed).", warn: false });
  const many = ["a", "b", "c"].map((t): BatchItem => ({ target: t, run: null, error: `${t} failed to start` }));
  assert.equal(batchSummary(many).message, "MLR-Copilot: 0 runs of accepted hypotheses. Not run: a failed to start; b failed to start (+1 more).");
  assert.equal(batchSummary([{ target: "h9", run: null }]).message, "MLR-Copilot: 0 runs of accepted hypotheses. Not run: h9 did not run.");
  assert.deepEqual(batchSummary([]), { message: "MLR-Copilot: no accepted hypothesis to run: accept one and implement it first.", warn: true });
});

test("the run picker lists runs with a commit, newest first, with their metric and hypothesis", () => {
  const picks = runPicks([
    run({ id: "old", commit: "1234567890", started_at: "2026-12-01T10:00:00Z", primary_metric: "acc", metrics: { acc: 0.5 } }),
    run({ id: "none", started_at: "2026-12-03T10:00:00Z" }),
    run({ id: "new", commit: "abcdef0123", status: "failed", started_at: "2026-12-02T10:00:00Z", hypothesis: "h1", branch: "mlr/h1-x" }),
  ]);
  assert.deepEqual(picks, [
    { label: "new", description: "failed · abcdef0", detail: "h1 · mlr/h1-x", runId: "new" },
    { label: "old", description: "passed · 1234567 · acc 0.5000", detail: undefined, runId: "old" },
  ]);
});

test("a chosen folder gets a new folder of its own, and the run id comes from the panel or a tree item", () => {
  assert.equal(checkoutFolder("/home/me/copies", "ws", "r1"), "/home/me/copies/ws-run-r1");
  assert.equal(runIdArg("r1"), "r1");
  assert.equal(runIdArg({ kind: "run", runId: "r2" }), "r2");
  assert.equal(runIdArg({ kind: "queued", runId: "r3" }), "r3");
  assert.equal(runIdArg({ kind: "commit", sha: "abc" }), undefined);
  assert.equal(runIdArg(undefined), undefined);
});
