// The Experiments panel's data, without the DOM: one row per run from the history of every
// branch, the columns, sorting, filtering and the series the plot draws. The webview
// (webview/panelView.ts) and the unit tests share it. Every string here is record content,
// shown by the webview as text only.
import type { HistoryRow, HistoryTable, HypothesisInfo, RunComparison } from "./protocol";
import { formatRelativeDelta, formatValue } from "./runText";

export interface RunRow {
  runId: string;
  sha: string;
  commit: string;
  subject: string;
  branch: string;
  hypothesis: string;
  status: string;
  metrics: Record<string, number | null>;
  /** The primary metric's change against the baseline, relative, positive meaning better. */
  delta: number | null;
  baseline: boolean;
  durationS: number | null;
  runner: string;
  node: string;
  started: string;
  logPath: string | null;
}

export type ColumnId = "commit" | "branch" | "status" | "delta" | "duration" | "runner" | "started" | `metric:${string}`;

export interface Column {
  id: ColumnId;
  title: string;
  numeric: boolean;
}

export interface Sort {
  column: ColumnId;
  descending: boolean;
}

/** "" in a field means any. */
export interface Filter {
  branch: string;
  hypothesis: string;
  status: string;
}

export const NO_BRANCH = "(no branch)";

const text = (value: unknown): string => (typeof value === "string" ? value.replace(/\s+/g, " ").trim() : "");
const finite = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null);

function runRow(row: HistoryRow, titles: Map<string, string>): RunRow {
  const hypothesis = text(row.hypothesis);
  const metrics: Record<string, number | null> = {};
  for (const [name, value] of Object.entries(row.metrics ?? {})) {
    metrics[name] = finite(value);
  }
  return {
    runId: text(row.run_id),
    sha: text(row.commit),
    commit: text(row.short) || text(row.commit).slice(0, 7),
    subject: text(row.subject),
    branch: text(row.branch) || NO_BRANCH,
    hypothesis: hypothesis ? (titles.get(hypothesis) ?? hypothesis) : "",
    status: text(row.status) || "unknown",
    metrics,
    delta: finite(row.delta),
    baseline: row.baseline === true,
    durationS: finite(row.duration_s),
    runner: text(row.runner),
    node: text(row.node),
    started: text(row.started_at),
    logPath: typeof row.log_path === "string" && row.log_path ? row.log_path : null,
  };
}

/** One row per run (commits without runs left out), each run once, hypotheses by title. */
export function runRows(table: HistoryTable, hypotheses: HypothesisInfo[] = []): RunRow[] {
  const titles = new Map(hypotheses.map((h) => [h.id, text(h.title) || h.id]));
  const seen = new Set<string>();
  const rows: RunRow[] = [];
  for (const row of table.rows ?? []) {
    const run = runRow(row, titles);
    if (run.runId && !seen.has(run.runId)) {
      seen.add(run.runId);
      rows.push(run);
    }
  }
  return rows;
}

/** Every metric the table names, the primary one first, then any a row reports besides. */
export function metricNames(table: HistoryTable, rows: RunRow[]): string[] {
  const names = [table.metric, ...(table.metrics ?? []), ...rows.flatMap((r) => Object.keys(r.metrics))];
  return [...new Set(names.filter((n): n is string => typeof n === "string" && n !== ""))];
}

export function columns(metrics: string[]): Column[] {
  const [primary, ...others] = metrics;
  const metric = (name: string): Column => ({ id: `metric:${name}`, title: name, numeric: true });
  return [
    { id: "commit", title: "Commit", numeric: false },
    { id: "branch", title: "Hypothesis / branch", numeric: false },
    { id: "status", title: "Status", numeric: false },
    ...(primary ? [metric(primary), { id: "delta" as const, title: "Δ vs baseline", numeric: true }] : []),
    ...others.map(metric),
    { id: "duration", title: "Duration", numeric: true },
    { id: "runner", title: "Runner · node", numeric: false },
    { id: "started", title: "Started", numeric: false },
  ];
}

/** The value a column sorts by; null sorts last whichever the direction. */
export function cellValue(row: RunRow, column: ColumnId): string | number | null {
  if (column.startsWith("metric:")) {
    return row.metrics[column.slice("metric:".length)] ?? null;
  }
  switch (column) {
    case "commit":
      return row.commit || null;
    case "branch":
      return `${row.hypothesis} ${row.branch}`.trim();
    case "status":
      return row.status;
    case "delta":
      return row.delta;
    case "duration":
      return row.durationS;
    case "runner":
      return [row.runner, row.node].filter(Boolean).join(" · ") || null;
    default:
      return row.started || null;
  }
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null) {
    return "";
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes}m ${String(Math.round(seconds % 60)).padStart(2, "0")}s`
    : `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** What a cell reads, as plain text. */
export function cellText(row: RunRow, column: ColumnId): string {
  const value = cellValue(row, column);
  if (column.startsWith("metric:")) {
    return typeof value === "number" ? formatValue(value) : "";
  }
  switch (column) {
    case "delta":
      return row.baseline ? "baseline" : formatRelativeDelta(row.delta);
    case "duration":
      return formatDuration(row.durationS);
    case "started":
      return row.started.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "");
    default:
      return value === null ? "" : String(value);
  }
}

/** A stable sort on one column; empty cells last in either direction. */
export function sortRows(rows: RunRow[], sort: Sort): RunRow[] {
  const sign = sort.descending ? -1 : 1;
  return [...rows].sort((x, y) => {
    const a = cellValue(x, sort.column);
    const b = cellValue(y, sort.column);
    if (a === null || b === null || a === "" || b === "") {
      return (a === null || a === "" ? 1 : 0) - (b === null || b === "" ? 1 : 0);
    }
    const order = typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
    return sign * order;
  });
}

export function filterRows(rows: RunRow[], filter: Filter): RunRow[] {
  return rows.filter(
    (r) =>
      (!filter.branch || r.branch === filter.branch) &&
      (!filter.hypothesis || r.hypothesis === filter.hypothesis) &&
      (!filter.status || r.status === filter.status),
  );
}

/** The values each filter offers, in the order the rows first show them. */
export function filterChoices(rows: RunRow[]): { branch: string[]; hypothesis: string[]; status: string[] } {
  const distinct = (values: string[]) => [...new Set(values.filter(Boolean))];
  return {
    branch: distinct(rows.map((r) => r.branch)),
    hypothesis: distinct(rows.map((r) => r.hypothesis)),
    status: distinct(rows.map((r) => r.status)),
  };
}

export interface Point {
  x: number;
  y: number;
  runId: string;
}

export interface Series {
  branch: string;
  points: Point[];
}

/** Runs in the order they started, oldest first. */
export function byStart(rows: RunRow[]): RunRow[] {
  return [...rows].sort((a, b) => a.started.localeCompare(b.started) || a.runId.localeCompare(b.runId));
}

/**
 * One line per branch of `rows`: x is the run's number among `all` runs in start order
 * (1-based, so the lines share one axis), y its value of `metric`; runs without a finite value
 * are left out. A filter passes the rows it shows and every run as `all`, so a run keeps its
 * number, and its place on the axis, whatever is filtered out.
 */
export function plotSeries(rows: RunRow[], metric: string, all: RunRow[] = rows): Series[] {
  const number = new Map(byStart(all).map((row, index) => [row.runId, index + 1]));
  const lines = new Map<string, Point[]>();
  for (const row of byStart(rows)) {
    const y = row.metrics[metric];
    const x = number.get(row.runId);
    if (typeof y === "number" && x !== undefined) {
      const points = lines.get(row.branch) ?? [];
      points.push({ x, y, runId: row.runId });
      lines.set(row.branch, points);
    }
  }
  return [...lines].map(([branch, points]) => ({ branch, points }));
}

/** The baseline run's value of `metric`, the reference line of the plot. */
export function baselineValue(rows: RunRow[], metric: string): number | null {
  return rows.find((r) => r.baseline)?.metrics[metric] ?? null;
}

/** What the extension sends the webview. */
export type ToPanel =
  | { type: "data"; table: HistoryTable; hypotheses: HypothesisInfo[] }
  | { type: "comparison"; result: RunComparison }
  | { type: "error"; message: string };

/** What the webview asks of the extension. */
export type FromPanel =
  | { type: "ready" }
  | { type: "refresh" }
  | { type: "compare"; a: string; b: string }
  | { type: "openLog"; path: string }
  | { type: "openCommit"; sha: string }
  | { type: "checkoutRun"; runId: string };

/** A run still running will change on its own: the panel asks again soon while there is one. */
export function anyRunning(table: HistoryTable): boolean {
  return (table.rows ?? []).some((r) => r.status === "running");
}
