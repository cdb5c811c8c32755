import assert from "node:assert/strict";
import { test } from "node:test";
import {
  buildExperimentTree,
  childrenOf,
  historyQueries,
  runTone,
  type BaselineNode,
  type CommitNode,
  type HypothesisNode,
} from "../../src/experiments";
import type { HistoryRow, HistoryTable, HypothesisInfo } from "../../src/protocol";

const hypotheses: HypothesisInfo[] = [
  { id: "h2", title: "Label smoothing", rank: 2, status: "proposed", paper: "p.pdf", branch: null },
  { id: "h1", title: "Warmup schedule", rank: 1, status: "accepted", paper: "p.pdf", branch: "mlr/warmup-schedule" },
];

const NOW = Date.parse("2026-12-02T15:00:00Z");

// Rows as history/store.py serialises them (HistoryRow.model_dump(mode="json")).
function row(fields: Partial<HistoryRow> & { commit: string | null }): HistoryRow {
  return {
    short: fields.commit?.slice(0, 7) ?? null, subject: "", hypothesis: null, run_id: null, status: null, value: null,
    delta: null, baseline: false, dirty: false, log_path: null, branch: "main", metrics: {}, runner: null,
    started_at: null, duration_s: null, ...fields,
  };
}

const baselineRow = row({
  commit: "aaaaaaa111", subject: "baseline", run_id: "r0", status: "passed", value: 0.8, delta: 0, baseline: true,
  log_path: ".mlr/runs/r0/log.txt", metrics: { accuracy: 0.8 }, runner: "local", started_at: "2026-12-02T13:00:00Z",
});

const table = (rows: HistoryRow[], branch: string): HistoryTable => ({
  branch, metric: "accuracy", direction: "maximize", baseline_run: "r0", baseline_value: 0.8, rows,
  branches: [branch], metrics: ["accuracy"],
});

const main = table([baselineRow], "main");

const branch = table([
  row({ commit: "bbbbbbb222", subject: "Add warmup", hypothesis: "h1", run_id: "r1", status: "failed", log_path: ".mlr/runs/r1/log.txt", started_at: "2026-12-02T14:30:00Z" }),
  row({ commit: "ccccccc333", subject: "Fix warmup steps", hypothesis: "h1", run_id: "r2", status: "passed", value: 0.875, delta: 0.09375, log_path: "/abs/r2.log", metrics: { accuracy: 0.875, loss: 0.31 }, started_at: "2026-12-02T14:58:00Z" }),
  row({ commit: "ccccccc333", subject: "Fix warmup steps", hypothesis: "h1", run_id: "r3", status: "passed", value: 0.79, delta: -0.0125, started_at: "2026-12-02T14:59:30Z" }),
  row({ commit: "ddddddd444", subject: "Tweak config", hypothesis: "h1" }),
  { ...baselineRow, branch: "mlr/warmup-schedule" },
], "mlr/warmup-schedule");

test("hypotheses by rank, each with its commits and their runs", () => {
  const nodes = buildExperimentTree(hypotheses, [main, branch], NOW);
  assert.deepEqual(
    nodes.map((n) => n.kind === "baseline" || n.kind === "hypothesis" || n.kind === "group" ? n.label : n.kind),
    ["Baseline: 0.8000 accuracy", "1. Warmup schedule", "2. Label smoothing", "Other commits"],
  );
  const warmup = nodes[1] as HypothesisNode;
  assert.equal(warmup.description, "accepted · 3 commits, 3 runs");
  assert.deepEqual(warmup.commits.map((c) => c.sha), ["bbbbbbb222", "ccccccc333", "ddddddd444"]);
  const fix = warmup.commits[1];
  assert.deepEqual(fix.runs.map((r) => r.runId), ["r2", "r3"]);
  assert.equal(fix.runs[0].logPath, "/abs/r2.log");
  assert.equal(warmup.commits[0].runs[0].tone, "bad");
  assert.deepEqual(childrenOf(warmup.commits[2]), []);
  assert.equal((nodes[2] as HypothesisNode).description, "proposed");
});

test("a run's label leads with its value, metric and delta; its id is in the description", () => {
  const warmup = buildExperimentTree(hypotheses, [main, branch], NOW)[1] as HypothesisNode;
  const [failed, fixed] = warmup.commits;
  assert.equal(fixed.runs[0].label, "0.8750 accuracy (+9.4%)  ✓ 2m ago");
  assert.equal(fixed.runs[0].description, "passed · run r2");
  assert.equal(fixed.runs[1].label, "0.7900 accuracy (-1.3%)  ✓ just now");
  assert.equal(failed.runs[0].label, "failed  ✗ 30m ago");
  assert.equal(failed.runs[0].description, "failed · run r1");
  assert.match(fixed.runs[0].tooltip, /loss = 0\.3100/);
  assert.match(fixed.runs[0].tooltip, /\+9\.4% vs baseline run r0 \(0\.8000\)/);
});

test("the baseline node is the run the server flags, and opens its log", () => {
  const baseline = buildExperimentTree(hypotheses, [main, branch], NOW)[0] as BaselineNode;
  assert.equal(baseline.kind, "baseline");
  assert.equal(baseline.description, "run r0 · aaaaaaa");
  assert.equal(baseline.logPath, ".mlr/runs/r0/log.txt");
  const other = buildExperimentTree(hypotheses, [main, branch], NOW)[3];
  assert.equal((childrenOf(other)[0] as CommitNode).runs[0].label, "0.8000 accuracy (baseline)  ✓ 2h ago");
});

test("a table with no baseline run, or one whose row is not listed, shows no baseline node", () => {
  const none = { ...branch, baseline_run: null, baseline_value: null, rows: branch.rows.map((r) => ({ ...r, baseline: false })) };
  assert.equal(buildExperimentTree(hypotheses, [none], NOW)[0].kind, "hypothesis");
  const unlisted = { ...main, rows: [] };
  assert.equal(buildExperimentTree(hypotheses, [unlisted], NOW)[0].kind, "hypothesis");
  // the first table that names its baseline wins
  const later = buildExperimentTree(hypotheses, [none, main], NOW)[0] as BaselineNode;
  assert.equal(later.description, "run r0 · aaaaaaa");
});

test("runs made before the first commit have no commit and still show", () => {
  const orphan = table([{ ...baselineRow, commit: null, short: null, subject: "", branch: null }], "main");
  const nodes = buildExperimentTree([], [orphan], NOW);
  const commit = childrenOf(nodes[1])[0] as CommitNode;
  assert.equal(commit.label, "(no commit)");
  assert.equal(commit.runs[0].runId, "r0");
  assert.equal((nodes[0] as BaselineNode).description, "run r0 · no commit");
});

test("a commit present in two tables appears once with one run", () => {
  const nodes = buildExperimentTree(hypotheses, [main, branch]);
  const other = nodes[3];
  assert.equal(other.kind, "group");
  const commits = childrenOf(other) as CommitNode[];
  assert.deepEqual(commits.map((c) => [c.sha, c.runs.length]), [["aaaaaaa111", 1]]);
});

test("rows of an unknown hypothesis go under Other commits", () => {
  const gone: HistoryTable = { ...branch, baseline_run: null, rows: [{ ...branch.rows[1], hypothesis: "gone" }] };
  const nodes = buildExperimentTree([], [gone]);
  assert.equal(nodes.length, 1);
  assert.equal(nodes[0].kind, "group");
});

test("an empty history gives only the hypotheses", () => {
  const nodes = buildExperimentTree(hypotheses, [{ rows: [], baseline_run: null, baseline_value: null, metric: null, direction: null }]);
  assert.deepEqual(nodes.map((n) => n.kind), ["hypothesis", "hypothesis"]);
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
