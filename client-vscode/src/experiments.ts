// The "MLR Experiments" tree as plain data, built from mlrCopilot.listHypotheses and
// mlrCopilot.history; tree.ts only maps it onto VS Code tree items.
import type { HistoryRow, HistoryTable, HypothesisInfo } from "./protocol";

export type Tone = "good" | "bad" | "running" | "neutral";

export interface RunNode {
  kind: "run";
  runId: string;
  label: string;
  description: string;
  status: string;
  tone: Tone;
  logPath: string | null;
}

export interface CommitNode {
  kind: "commit";
  sha: string;
  label: string;
  description: string;
  runs: RunNode[];
}

export interface HypothesisNode {
  kind: "hypothesis";
  id: string;
  label: string;
  description: string;
  status: string;
  commits: CommitNode[];
}

export interface GroupNode {
  kind: "group";
  label: string;
  commits: CommitNode[];
}

export interface BaselineNode {
  kind: "baseline";
  label: string;
  description: string;
}

export type ExperimentNode = BaselineNode | HypothesisNode | GroupNode | CommitNode | RunNode;

/** The tone of a run status: the server's own statuses (runners/model.py RunStatus). */
export function runTone(status: string | null | undefined): Tone {
  switch (status) {
    case "passed":
      return "good";
    case "failed":
    case "timeout":
    case "oom":
    case "cancelled":
    case "interrupted":
    case "error":
      return "bad";
    case "running":
      return "running";
    default:
      return "neutral";
  }
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) {
    return String(value);
  }
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(2) : String(Number(value.toPrecision(4)));
}

/** `+0.012 (better)` given the metric's direction; no verdict without one. */
export function formatDelta(delta: number | null | undefined, direction: string | null | undefined): string {
  if (delta === null || delta === undefined || Number.isNaN(delta)) {
    return "";
  }
  const sign = delta > 0 ? "+" : "";
  let verdict = "";
  if (delta !== 0 && (direction === "maximize" || direction === "minimize")) {
    verdict = (delta > 0) === (direction === "maximize") ? " better" : " worse";
  }
  return `${sign}${formatNumber(delta)}${verdict}`;
}

function metricText(row: HistoryRow, table: HistoryTable): string {
  const metric = row.metric ?? table.metric;
  if (row.value === null || row.value === undefined) {
    return "";
  }
  const delta = formatDelta(row.delta, table.direction);
  return `${metric ?? "metric"} ${formatNumber(row.value)}${delta ? ` (${delta} vs baseline)` : ""}`;
}

function runNode(row: HistoryRow, table: HistoryTable): RunNode {
  const status = row.status ?? "unknown";
  const metric = metricText(row, table);
  return {
    kind: "run",
    runId: row.run_id as string,
    label: `run ${row.run_id}`,
    description: [status, metric].filter(Boolean).join(" · "),
    status,
    tone: runTone(status),
    logPath: row.log_path ?? null,
  };
}

function baselineNode(tables: HistoryTable[]): BaselineNode | undefined {
  const table = tables.find((t) => t.baseline);
  const base = table?.baseline;
  if (!table || !base) {
    return undefined;
  }
  const value = typeof base.value === "number" ? formatNumber(base.value) : "no value";
  const metric = (base.metric as string | undefined) ?? table.metric ?? "metric";
  const where = typeof base.short === "string" ? base.short : typeof base.commit === "string" ? base.commit.slice(0, 7) : "";
  return { kind: "baseline", label: `Baseline: ${metric} ${value}`, description: where };
}

/**
 * Hypotheses (by rank) with their commits and each commit's runs; commits that belong
 * to no listed hypothesis go under "Other commits". Rows seen in several tables (the
 * same commit on two branches) appear once.
 */
export function buildExperimentTree(hypotheses: HypothesisInfo[], tables: HistoryTable[]): ExperimentNode[] {
  const commitsByHypothesis = new Map<string, CommitNode[]>();
  const commitIndex = new Map<string, CommitNode>();
  const seenRuns = new Set<string>();
  const known = new Set(hypotheses.map((h) => h.id));
  const OTHER = "\u0000other";

  for (const table of tables) {
    for (const row of table.rows ?? []) {
      const owner = row.hypothesis && known.has(row.hypothesis) ? row.hypothesis : OTHER;
      let commit = commitIndex.get(row.commit);
      if (!commit) {
        commit = {
          kind: "commit",
          sha: row.commit,
          label: row.subject || row.commit.slice(0, 7),
          description: row.short ?? row.commit.slice(0, 7),
          runs: [],
        };
        commitIndex.set(row.commit, commit);
        const list = commitsByHypothesis.get(owner) ?? [];
        list.push(commit);
        commitsByHypothesis.set(owner, list);
      }
      if (row.run_id && !seenRuns.has(row.run_id)) {
        seenRuns.add(row.run_id);
        commit.runs.push(runNode(row, table));
      }
    }
  }

  const nodes: ExperimentNode[] = [];
  const baseline = baselineNode(tables);
  if (baseline) {
    nodes.push(baseline);
  }
  const ranked = [...hypotheses].sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity));
  for (const h of ranked) {
    const commits = commitsByHypothesis.get(h.id) ?? [];
    const runs = commits.reduce((n, c) => n + c.runs.length, 0);
    const counts = commits.length ? ` · ${commits.length} commit${commits.length > 1 ? "s" : ""}, ${runs} run${runs === 1 ? "" : "s"}` : "";
    nodes.push({
      kind: "hypothesis",
      id: h.id,
      label: h.rank !== undefined ? `${h.rank}. ${h.title}` : h.title,
      description: `${h.status}${counts}`,
      status: h.status,
      commits,
    });
  }
  const other = commitsByHypothesis.get(OTHER);
  if (other?.length) {
    nodes.push({ kind: "group", label: "Other commits", commits: other });
  }
  return nodes;
}

export function childrenOf(node: ExperimentNode): ExperimentNode[] {
  switch (node.kind) {
    case "hypothesis":
    case "group":
      return node.commits;
    case "commit":
      return node.runs;
    default:
      return [];
  }
}

/** Branches worth asking history for: the current one (no argument) and each hypothesis's. */
export function historyQueries(hypotheses: HypothesisInfo[]): ({ branch: string } | undefined)[] {
  const branches = [...new Set(hypotheses.map((h) => h.branch).filter((b): b is string => !!b))];
  return [undefined, ...branches.map((branch) => ({ branch }))];
}
