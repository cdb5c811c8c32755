import assert from "node:assert/strict";
import { test } from "node:test";
import {
  buildExperimentTree,
  childrenOf,
  formatDelta,
  historyQueries,
  runTone,
  type CommitNode,
  type HypothesisNode,
} from "../../src/experiments";
import type { HistoryTable, HypothesisInfo } from "../../src/protocol";

const hypotheses: HypothesisInfo[] = [
  { id: "h2", title: "Label smoothing", rank: 2, status: "proposed", paper: "p.pdf", branch: null },
  { id: "h1", title: "Warmup schedule", rank: 1, status: "accepted", paper: "p.pdf", branch: "mlr/warmup-schedule" },
];

const main: HistoryTable = {
  metric: "accuracy",
  direction: "maximize",
  baseline: { commit: "aaaaaaa111", short: "aaaaaaa", run_id: "r0", value: 0.8, metric: "accuracy" },
  rows: [
    { commit: "aaaaaaa111", short: "aaaaaaa", subject: "baseline", hypothesis: null, run_id: "r0", status: "passed", metric: "accuracy", value: 0.8, delta: 0, log_path: ".mlr/runs/r0/log.txt" },
  ],
};

const branch: HistoryTable = {
  metric: "accuracy",
  direction: "maximize",
  baseline: main.baseline,
  rows: [
    { commit: "bbbbbbb222", short: "bbbbbbb", subject: "Add warmup", hypothesis: "h1", run_id: "r1", status: "failed", metric: "accuracy", value: null, delta: null, log_path: ".mlr/runs/r1/log.txt" },
    { commit: "ccccccc333", short: "ccccccc", subject: "Fix warmup steps", hypothesis: "h1", run_id: "r2", status: "passed", metric: "accuracy", value: 0.8421, delta: 0.0421, log_path: "/abs/r2.log" },
    { commit: "ccccccc333", short: "ccccccc", subject: "Fix warmup steps", hypothesis: "h1", run_id: "r3", status: "passed", metric: "accuracy", value: 0.79, delta: -0.01, log_path: null },
    { commit: "ddddddd444", short: "ddddddd", subject: "Tweak config", hypothesis: "h1", run_id: null, status: null, metric: null, value: null, delta: null, log_path: null },
    { commit: "aaaaaaa111", short: "aaaaaaa", subject: "baseline", hypothesis: null, run_id: "r0", status: "passed", metric: "accuracy", value: 0.8, delta: 0, log_path: ".mlr/runs/r0/log.txt" },
  ],
};

test("hypotheses by rank, each with its commits and their runs", () => {
  const nodes = buildExperimentTree(hypotheses, [main, branch]);
  assert.deepEqual(
    nodes.map((n) => n.kind === "baseline" || n.kind === "hypothesis" || n.kind === "group" ? n.label : n.kind),
    ["Baseline: accuracy 0.8", "1. Warmup schedule", "2. Label smoothing", "Other commits"],
  );
  const warmup = nodes[1] as HypothesisNode;
  assert.equal(warmup.description, "accepted · 3 commits, 3 runs");
  assert.deepEqual(warmup.commits.map((c) => c.sha), ["bbbbbbb222", "ccccccc333", "ddddddd444"]);
  const fix = warmup.commits[1];
  assert.deepEqual(fix.runs.map((r) => r.runId), ["r2", "r3"]);
  assert.equal(fix.runs[0].description, "passed · accuracy 0.8421 (+0.0421 better vs baseline)");
  assert.equal(fix.runs[1].description, "passed · accuracy 0.79 (-0.01 worse vs baseline)");
  assert.equal(fix.runs[0].logPath, "/abs/r2.log");
  assert.equal(warmup.commits[0].runs[0].tone, "bad");
  assert.equal(warmup.commits[0].runs[0].description, "failed");
  assert.deepEqual(childrenOf(warmup.commits[2]), []);
  assert.equal((nodes[2] as HypothesisNode).description, "proposed");
});

test("a commit present in two tables appears once with one run", () => {
  const nodes = buildExperimentTree(hypotheses, [main, branch]);
  const other = nodes[3];
  assert.equal(other.kind, "group");
  const commits = childrenOf(other) as CommitNode[];
  assert.deepEqual(commits.map((c) => [c.sha, c.runs.length]), [["aaaaaaa111", 1]]);
});

test("rows of an unknown hypothesis go under Other commits", () => {
  const table: HistoryTable = { ...branch, baseline: null, rows: [{ ...branch.rows[1], hypothesis: "gone" }] };
  const nodes = buildExperimentTree([], [table]);
  assert.equal(nodes.length, 1);
  assert.equal(nodes[0].kind, "group");
});

test("an empty history gives only the hypotheses", () => {
  const nodes = buildExperimentTree(hypotheses, [{ rows: [], baseline: null, metric: null, direction: null }]);
  assert.deepEqual(nodes.map((n) => n.kind), ["hypothesis", "hypothesis"]);
});

test("deltas say better or worse only when the direction is known", () => {
  assert.equal(formatDelta(0.5, "minimize"), "+0.5 worse");
  assert.equal(formatDelta(-0.5, "minimize"), "-0.5 better");
  assert.equal(formatDelta(0.123456, null), "+0.1235");
  assert.equal(formatDelta(0, "maximize"), "0");
  assert.equal(formatDelta(null, "maximize"), "");
});

test("run statuses map to tones", () => {
  assert.equal(runTone("passed"), "good");
  for (const status of ["failed", "timeout", "oom", "cancelled", "interrupted", "error"]) {
    assert.equal(runTone(status), "bad", status);
  }
  assert.equal(runTone("running"), "running");
  assert.equal(runTone(undefined), "neutral");
});

test("history is asked for the current branch and each hypothesis branch once", () => {
  const queries = historyQueries([...hypotheses, { id: "h3", title: "x", status: "accepted", branch: "mlr/warmup-schedule" }]);
  assert.deepEqual(queries, [undefined, { branch: "mlr/warmup-schedule" }]);
});
