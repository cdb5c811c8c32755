import assert from "node:assert/strict";
import { test } from "node:test";
import type { HistoryRow, HistoryTable } from "../../src/protocol";
import { formatAge, formatRelativeDelta, formatValue, runLabel, runTooltip } from "../../src/runText";

const NOW = Date.parse("2026-12-02T15:00:00Z");
const table: HistoryTable = { metric: "val_loss", direction: "minimize", baseline_run: "r0", baseline_value: 0.5, rows: [] };
const row: HistoryRow = {
  commit: "c".repeat(40), subject: "s", run_id: "20261202-145631-45559", status: "passed", value: 0.45, delta: 0.1,
  baseline: false, metrics: { val_loss: 0.45, accuracy: 0.9 }, runner: "docker", branch: "mlr/h1", started_at: "2026-12-02T14:58:00Z",
  duration_s: 62.25, log_path: ".mlr/logs/r.log",
};

test("values read with four decimals, integers as they are, extremes in exponent form", () => {
  assert.equal(formatValue(0.875), "0.8750");
  assert.equal(formatValue(-12.3456789), "-12.3457");
  assert.equal(formatValue(10), "10");
  assert.equal(formatValue(0.00001234), "1.23e-5");
  assert.equal(formatValue(12345678.9), "1.23e+7");
  assert.equal(formatValue(Number.NaN), "NaN");
});

test("the server's relative delta reads as a signed percentage; none when absent or not finite", () => {
  assert.equal(formatRelativeDelta(0.09375), "+9.4%");
  assert.equal(formatRelativeDelta(-0.0125), "-1.3%");
  assert.equal(formatRelativeDelta(0), "+0.0%");
  assert.equal(formatRelativeDelta(250), "+2.5e+4%");
  assert.equal(formatRelativeDelta(null), "");
  assert.equal(formatRelativeDelta(undefined), "");
  assert.equal(formatRelativeDelta(Number.POSITIVE_INFINITY), "");
});

test("ages read in the largest whole unit; a missing or unreadable time gives none", () => {
  assert.equal(formatAge("2026-12-02T14:59:31Z", NOW), "just now");
  assert.equal(formatAge("2026-12-02T14:58:00Z", NOW), "2m ago");
  assert.equal(formatAge("2026-12-02T12:00:00+00:00", NOW), "3h ago");
  assert.equal(formatAge("2026-11-20T15:00:00Z", NOW), "12d ago");
  assert.equal(formatAge("2026-12-02T16:00:00Z", NOW), "just now");
  assert.equal(formatAge("not a time", NOW), "");
  assert.equal(formatAge(null, NOW), "");
});

test("a lower-is-better metric that dropped reads as a gain, as the terminal's table shows it", () => {
  assert.equal(runLabel(row, table, NOW), "0.4500 val_loss (+10.0%)  ✓ 2m ago");
});

test("labels of runs without a value, a baseline, a running run and an unknown status", () => {
  assert.equal(runLabel({ ...row, value: null, delta: null }, table, NOW), "no val_loss  ✓ 2m ago");
  assert.equal(runLabel({ ...row, baseline: true, delta: 0 }, table, NOW), "0.4500 val_loss (baseline)  ✓ 2m ago");
  assert.equal(runLabel({ ...row, status: "running", value: null, started_at: null }, table, NOW), "running  …");
  assert.equal(runLabel({ ...row, status: "oom", value: null }, table, NOW), "oom  ✗ 2m ago");
  assert.equal(runLabel({ ...row, status: null, value: null, started_at: null }, table, NOW), "unknown");
  assert.equal(runLabel({ ...row, delta: null }, { ...table, metric: null }, NOW), "0.4500 metric  ✓ 2m ago");
});

test("the tooltip names every metric, the baseline the delta is against, where it ran and its log", () => {
  assert.equal(
    runTooltip(row, table),
    [
      "run 20261202-145631-45559 · passed",
      "val_loss = 0.4500",
      "accuracy = 0.9000",
      "+10.0% vs baseline run r0 (0.5000); + is better",
      "docker · mlr/h1 · 62.3 s",
      "started 2026-12-02T14:58:00Z",
      "log: .mlr/logs/r.log",
    ].join("\n"),
  );
  assert.match(runTooltip({ ...row, baseline: true }, table), /this run is the baseline/);
  assert.match(runTooltip({ ...row, log_path: null, metrics: undefined }, table), /no log recorded$/);
  // a diverged metric arrives as null (the server's json_safe)
  assert.match(runTooltip({ ...row, metrics: { val_loss: null } }, table), /^val_loss = not finite$/m);
});

test("odd field values from an older or hostile server give a one-line label, never a throw", () => {
  const numbers: unknown[] = [null, undefined, Number.NaN, Number.POSITIVE_INFINITY, -0, 1e300, -1e-300, 0.5, "0.5", {}];
  const statuses: unknown[] = [null, undefined, "passed", "running", "weird\nstatus", 7];
  const times: unknown[] = [null, undefined, "", "yesterday", "2026-12-02T14:58:00Z", "9999-01-01T00:00:00Z", 5];
  let cases = 0;
  for (const value of numbers) {
    for (const status of statuses) {
      for (const started_at of times) {
        const odd = { ...row, value, delta: value, status, started_at, metrics: { m: value } } as unknown as HistoryRow;
        const oddTable = { ...table, baseline_value: value, metric: typeof status === "string" ? status : null } as unknown as HistoryTable;
        const label = runLabel(odd, oddTable, NOW);
        assert.ok(typeof label === "string" && label.length > 0 && !label.includes("\n"), String(label));
        assert.ok(!runTooltip(odd, oddTable).includes("undefined"));
        cases += 1;
      }
    }
  }
  assert.equal(cases, 420);
});
