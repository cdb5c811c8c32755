import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import {
  NO_BRANCH,
  anyRunning,
  baselineValue,
  cellText,
  columns,
  filterChoices,
  filterRows,
  formatDuration,
  metricNames,
  plotSeries,
  runRows,
  sortRows,
} from "../../src/panelData";
import { newNonce, panelHtml } from "../../src/panelHtml";
import { niceTicks, plotLayout } from "../../src/plotLayout";
import type { HistoryRow, HistoryTable, HypothesisInfo } from "../../src/protocol";

// Rows as history/store.py serialises them for `mlrCopilot.history {all_branches: true}`.
function row(fields: Partial<HistoryRow>): HistoryRow {
  return {
    commit: "aaaaaaa111", short: "aaaaaaa", subject: "", hypothesis: null, run_id: null, status: "passed", value: null,
    delta: null, baseline: false, dirty: false, log_path: null, branch: "main", metrics: {}, runner: "local",
    node: "box", started_at: null, duration_s: null, ...fields,
  };
}

const hypotheses: HypothesisInfo[] = [{ id: "h1", title: "Wider layer", status: "accepted", branch: "mlr/h1-wider" }];

const table: HistoryTable = {
  branch: null, metric: "accuracy", direction: "maximize", baseline_run: "r0", baseline_value: 0.8,
  branches: ["main", "mlr/h1-wider"], metrics: ["accuracy", "loss"],
  rows: [
    row({ commit: "ccccccc333", short: "ccccccc", hypothesis: "h1", run_id: "r3", branch: "mlr/h1-wider", value: 0.9, delta: 0.125,
      metrics: { accuracy: 0.9, loss: 0.2 }, started_at: "2026-12-02T14:00:00Z", duration_s: 75 }),
    row({ commit: "bbbbbbb222", short: "bbbbbbb", hypothesis: "h1", run_id: "r2", branch: "mlr/h1-wider", status: "failed",
      started_at: "2026-12-02T13:00:00Z", duration_s: 3 }),
    row({ commit: "ddddddd444", short: "ddddddd", subject: "no runs yet", branch: "mlr/h1-wider", status: null }),
    row({ run_id: "r1", value: 0.7, delta: -0.125, metrics: { accuracy: 0.7 }, started_at: "2026-12-02T12:00:00Z", duration_s: 12.5 }),
    row({ run_id: "r0", value: 0.8, delta: 0, baseline: true, metrics: { accuracy: 0.8, loss: 0.4 }, started_at: "2026-12-02T11:00:00Z", log_path: ".mlr/logs/r0.log" }),
    // the same run listed again under a second branch
    row({ run_id: "r0", branch: "mlr/h1-wider", baseline: true, metrics: { accuracy: 0.8, loss: 0.4 }, started_at: "2026-12-02T11:00:00Z" }),
    row({ commit: "eeeeeee555", short: null, run_id: "r4", branch: null, status: "running", started_at: "2026-12-02T15:00:00Z" }),
  ],
};

const rows = runRows(table, hypotheses);
const ids = (list: { runId: string }[]) => list.map((r) => r.runId);

test("one row per run, each run once, hypotheses by title and runs on no branch named so", () => {
  assert.deepEqual(ids(rows), ["r3", "r2", "r1", "r0", "r4"]);
  assert.equal(rows[0].hypothesis, "Wider layer");
  assert.equal(rows[3].branch, "main");
  assert.equal(rows[4].branch, NO_BRANCH);
  assert.equal(rows[4].commit, "eeeeeee");
});

test("columns: the primary metric first with its delta, then the other metrics", () => {
  const metrics = metricNames(table, rows);
  assert.deepEqual(metrics, ["accuracy", "loss"]);
  assert.deepEqual(columns(metrics).map((c) => c.id), [
    "commit", "branch", "status", "metric:accuracy", "delta", "metric:loss", "duration", "runner", "started",
  ]);
  assert.deepEqual(metricNames({ ...table, metric: null, metrics: [] }, rows), ["accuracy", "loss"]);
});

test("cells read as the terminal's table does, the baseline's delta says so", () => {
  const [r3, , r1, r0] = rows;
  assert.equal(cellText(r3, "metric:accuracy"), "0.9000");
  assert.equal(cellText(r3, "delta"), "+12.5%");
  assert.equal(cellText(r1, "delta"), "-12.5%");
  assert.equal(cellText(r0, "delta"), "baseline");
  assert.equal(cellText(r3, "metric:missing"), "");
  assert.equal(cellText(r3, "runner"), "local · box");
  assert.equal(cellText(r3, "started"), "2026-12-02 14:00:00");
  assert.equal(cellText(r3, "duration"), "1m 15s");
  assert.deepEqual([formatDuration(12.5), formatDuration(7300), formatDuration(null)], ["12.5 s", "2h 01m", ""]);
});

test("sorting by a number, then descending; runs without a value stay last either way", () => {
  assert.deepEqual(ids(sortRows(rows, { column: "metric:accuracy", descending: false })), ["r1", "r0", "r3", "r2", "r4"]);
  assert.deepEqual(ids(sortRows(rows, { column: "metric:accuracy", descending: true })), ["r3", "r0", "r1", "r2", "r4"]);
  assert.deepEqual(ids(sortRows(rows, { column: "started", descending: true })), ["r4", "r3", "r2", "r1", "r0"]);
  assert.deepEqual(ids(sortRows(rows, { column: "status", descending: false })), ["r2", "r3", "r1", "r0", "r4"]);
});

test("filters by branch, hypothesis and status, and offers the values present", () => {
  assert.deepEqual(ids(filterRows(rows, { branch: "mlr/h1-wider", hypothesis: "", status: "" })), ["r3", "r2"]);
  assert.deepEqual(ids(filterRows(rows, { branch: "", hypothesis: "Wider layer", status: "passed" })), ["r3"]);
  assert.deepEqual(ids(filterRows(rows, { branch: "", hypothesis: "", status: "" })), ids(rows));
  assert.deepEqual(filterChoices(rows), {
    branch: ["mlr/h1-wider", "main", NO_BRANCH], hypothesis: ["Wider layer"], status: ["passed", "failed", "running"],
  });
});

test("plot series: one line per branch over runs in start order, with the baseline's value", () => {
  assert.deepEqual(plotSeries(rows, "accuracy"), [
    { branch: "main", points: [{ x: 1, y: 0.8, runId: "r0" }, { x: 2, y: 0.7, runId: "r1" }] },
    { branch: "mlr/h1-wider", points: [{ x: 4, y: 0.9, runId: "r3" }] },
  ]);
  assert.deepEqual(plotSeries(rows, "loss").map((s) => s.points.map((p) => p.runId)), [["r0"], ["r3"]]);
  assert.equal(baselineValue(rows, "accuracy"), 0.8);
  assert.equal(baselineValue(rows, "missing"), null);
});

test("plot under a filter: each run keeps its number among all runs, and the axis counts from the first shown", () => {
  const wider = filterRows(rows, { branch: "mlr/h1-wider", hypothesis: "", status: "" });
  const all = plotSeries(rows, "accuracy");
  const filtered = plotSeries(wider, "accuracy", rows);
  // r3 is the fourth run to start whatever is shown; alone, it would have been the first
  assert.deepEqual(filtered, [{ branch: "mlr/h1-wider", points: [{ x: 4, y: 0.9, runId: "r3" }] }]);
  assert.deepEqual(filtered[0].points, all[1].points);
  assert.equal(plotSeries(wider, "accuracy")[0].points[0].x, 2);
  const box = { width: 400, height: 200, left: 40, right: 10, top: 10, bottom: 30 };
  const mainOnly = plotSeries(filterRows(rows, { branch: "", hypothesis: "", status: "passed" }).filter((r) => r.runId !== "r0"), "accuracy", rows);
  assert.deepEqual(mainOnly.flatMap((s) => s.points.map((p) => [p.runId, p.x])), [["r1", 2], ["r3", 4]]);
  const layout = plotLayout(mainOnly, null, box);
  // the frame spans the numbers shown, 2 to 4, labelled as they are
  assert.deepEqual(layout.xTicks.map((t) => t.label), ["2", "3", "4"]);
  assert.deepEqual(layout.lines.flatMap((l) => l.points.map((p) => [p.x, p.cx])), [[2, 40], [4, 390]]);
  // one run shown sits mid-frame, labelled with its own number
  const single = plotLayout(filtered, null, box);
  assert.deepEqual([single.lines[0].points[0].cx, single.xTicks.map((t) => t.label)], [215, ["4"]]);
});

test("plot layout: points inside the frame, higher values higher up, the baseline between them", () => {
  const box = { width: 400, height: 200, left: 40, right: 10, top: 10, bottom: 30 };
  const layout = plotLayout(plotSeries(rows, "accuracy"), 0.8, box);
  const [main, wider] = layout.lines;
  assert.equal(main.path, `M${main.points[0].cx},${main.points[0].cy} L${main.points[1].cx},${main.points[1].cy}`);
  assert.equal(main.points[0].cx, 40);
  assert.equal(wider.points[0].cx, 390);
  const [best] = wider.points;
  const worst = main.points[1];
  assert.ok(best.cy < (layout.baselineAt as number) && (layout.baselineAt as number) < worst.cy);
  for (const p of [...main.points, ...wider.points]) {
    assert.ok(p.cy > 10 && p.cy < 170, `${p.cy} inside the frame`);
  }
  assert.deepEqual(layout.xTicks.map((t) => t.label), ["1", "2", "3", "4"]);
  assert.ok(layout.yTicks.every((t) => t.at >= 10 && t.at <= 170));
  assert.deepEqual(niceTicks(0.68, 0.92, 5), [0.7, 0.75, 0.8, 0.85, 0.9]);
  assert.equal(plotLayout([], null, box).baselineAt, null);
});

test("record content stays data: markup in names and metric names is passed through as text", () => {
  const hostile = runRows({
    ...table,
    rows: [row({ run_id: "r9", branch: "<img src=x onerror=alert(1)>", hypothesis: "<b>h</b>",
      metrics: { "<script>x</script>": 1, nan: Number.NaN } })],
  });
  assert.equal(hostile[0].branch, "<img src=x onerror=alert(1)>");
  assert.equal(cellText(hostile[0], "branch"), "<b>h</b> <img src=x onerror=alert(1)>");
  assert.deepEqual(hostile[0].metrics, { "<script>x</script>": 1, nan: null });
});

test("a run still running asks for a refresh soon", () => {
  assert.equal(anyRunning(table), true);
  assert.equal(anyRunning({ ...table, rows: table.rows.filter((r) => r.status !== "running") }), false);
});

test("the page: a strict CSP with this page's nonce, no remote source, the script carries the nonce", () => {
  const nonce = newNonce();
  assert.notEqual(nonce, newNonce());
  const html = panelHtml({ cspSource: "https://webview.test", scriptUri: "https://webview.test/panel.js", styleUri: "https://webview.test/panel.css" }, nonce);
  const csp = /content="([^"]+)"/.exec(html)?.[1] ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  assert.match(html, new RegExp(`<script nonce="${nonce}" src="https://webview.test/panel.js">`));
  assert.doesNotMatch(html, /https?:\/\/(?!webview\.test)/);
});

test("the page's code never parses strings as markup", () => {
  const dir = path.join(__dirname, "..", "..", "..", "src", "webview");
  for (const file of fs.readdirSync(dir)) {
    const source = fs.readFileSync(path.join(dir, file), "utf8");
    assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|eval\(|new Function/, file);
  }
});
