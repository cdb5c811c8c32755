// How one history row reads in the "MLR Experiments" tree: its value first, so the number
// is what shows at the default width and the run id (long, alike from run to run) comes after.
import type { HistoryRow, HistoryTable } from "./protocol";

const STATUS_MARK: Record<string, string> = {
  passed: "✓",
  running: "…",
  failed: "✗",
  timeout: "✗",
  oom: "✗",
  cancelled: "✗",
  interrupted: "✗",
  error: "✗",
};

/** A run's status as one word, whatever the record holds (records are workspace content). */
export function runStatus(row: HistoryRow): string {
  return typeof row.status === "string" && row.status ? oneLine(row.status) : "unknown";
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** The table's primary metric as one line, "metric" when it has none. */
export function metricName(table: HistoryTable): string {
  return oneLine(typeof table.metric === "string" ? table.metric : "") || "metric";
}

/** A metric value with four decimals (`0.8750`), as the terminal's table reads it. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  if (Number.isInteger(value)) {
    return String(value);
  }
  const abs = Math.abs(value);
  return abs < 1e-3 || abs >= 1e6 ? value.toExponential(2) : value.toFixed(4);
}

/**
 * The server's delta is relative to the baseline's value and signed so that positive means
 * better whatever the metric's direction (history/store.py `relative_delta`): `+9.4%`.
 */
export function formatRelativeDelta(delta: number | null | undefined): string {
  if (delta === null || delta === undefined || !Number.isFinite(delta)) {
    return "";
  }
  const percent = delta * 100;
  const text = Math.abs(percent) >= 1000 ? percent.toExponential(1) : percent.toFixed(1);
  return `${text.startsWith("-") ? "" : "+"}${text}%`;
}

/** `2m ago` from an ISO time; "" when the time is missing or unreadable. */
export function formatAge(startedAt: string | null | undefined, now: number): string {
  const time = startedAt ? Date.parse(startedAt) : NaN;
  if (Number.isNaN(time)) {
    return "";
  }
  const seconds = Math.max(0, (now - time) / 1000);
  if (seconds < 60) {
    return "just now";
  }
  const [unit, suffix] = seconds < 3600 ? [60, "m"] : seconds < 86400 ? [3600, "h"] : [86400, "d"];
  return `${Math.floor(seconds / (unit as number))}${suffix} ago`;
}

/** `0.8750 accuracy (+9.4%)  ✓ 2m ago`; a run with no value leads with its status. */
export function runLabel(row: HistoryRow, table: HistoryTable, now: number): string {
  const status = runStatus(row);
  const metric = metricName(table);
  let head: string;
  if (typeof row.value === "number") {
    const delta = row.baseline ? "baseline" : formatRelativeDelta(row.delta);
    head = `${formatValue(row.value)} ${metric}${delta ? ` (${delta})` : ""}`;
  } else {
    head = status === "passed" && table.metric ? `no ${metric}` : status;
  }
  const tail = [STATUS_MARK[status] ?? "", formatAge(row.started_at, now)].filter(Boolean).join(" ");
  return tail ? `${head}  ${tail}` : head;
}

/** The status word and the run id, which the label leaves out. */
export function runDescription(row: HistoryRow): string {
  return [runStatus(row), row.run_id ? `run ${row.run_id}` : ""].filter(Boolean).join(" · ");
}

/** Every metric the run reported, where it ran and what its delta is measured against. */
export function runTooltip(row: HistoryRow, table: HistoryTable): string {
  const lines = [`run ${row.run_id ?? "?"} · ${runStatus(row)}`];
  for (const [name, value] of Object.entries(row.metrics ?? {})) {
    lines.push(`${name} = ${typeof value === "number" ? formatValue(value) : "not finite"}`);
  }
  if (row.baseline) {
    lines.push("this run is the baseline");
  } else if (formatRelativeDelta(row.delta) && table.baseline_run) {
    const base = typeof table.baseline_value === "number" ? ` (${formatValue(table.baseline_value)})` : "";
    lines.push(`${formatRelativeDelta(row.delta)} vs baseline run ${table.baseline_run}${base}; + is better`);
  }
  const where = [row.runner, row.branch, typeof row.duration_s === "number" ? `${row.duration_s.toFixed(1)} s` : ""];
  lines.push(...[where.filter(Boolean).join(" · "), row.started_at ? `started ${row.started_at}` : ""].filter(Boolean));
  lines.push(row.log_path ? `log: ${row.log_path}` : "no log recorded");
  return lines.join("\n");
}
