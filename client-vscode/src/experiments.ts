// The "MLR Experiments" tree as plain data, built from mlrCopilot.listHypotheses and
// mlrCopilot.history; tree.ts only maps it onto VS Code tree items.
import type { HistoryRow, HistoryTable, HypothesisInfo } from "./protocol";
import type { QueuedNode, QueueNode } from "./queue";
import { formatValue, metricName, runDescription, runLabel, runStatus, runTooltip } from "./runText";
import type { SearchViewNode } from "./searchTree";

export type Tone = "good" | "bad" | "running" | "neutral";

export interface RunNode {
  kind: "run";
  runId: string;
  label: string;
  description: string;
  tooltip: string;
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
  tooltip: string;
  logPath: string | null;
}

export type ExperimentNode = QueueNode | QueuedNode | SearchViewNode | BaselineNode | HypothesisNode | GroupNode | CommitNode | RunNode;

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

function runNode(row: HistoryRow, table: HistoryTable, now: number): RunNode {
  const status = runStatus(row);
  return {
    kind: "run",
    runId: row.run_id as string,
    label: runLabel(row, table, now),
    description: runDescription(row),
    tooltip: runTooltip(row, table),
    status,
    tone: runTone(status),
    logPath: row.log_path ?? null,
  };
}

/** The run the deltas are measured against: the server names it (`baseline_run`) and flags its row. */
function baselineNode(tables: HistoryTable[]): BaselineNode | undefined {
  for (const table of tables) {
    const row = table.rows?.find((r) => r.baseline && r.run_id === table.baseline_run);
    if (!table.baseline_run || !row) {
      continue;
    }
    const value = typeof table.baseline_value === "number" ? formatValue(table.baseline_value) : "no value";
    const commit = row.short ?? row.commit?.slice(0, 7) ?? "no commit";
    return {
      kind: "baseline",
      label: `Baseline: ${value} ${metricName(table)}`,
      description: `run ${table.baseline_run} · ${commit}`,
      tooltip: `Deltas are measured against run ${table.baseline_run} on ${commit}${row.subject ? ` (${row.subject})` : ""}`,
      logPath: row.log_path ?? null,
    };
  }
  return undefined;
}

/**
 * Hypotheses (by rank) with their commits and each commit's runs; commits that belong
 * to no listed hypothesis go under "Other commits". Rows seen in several tables (the
 * same commit on two branches) appear once.
 */
export function buildExperimentTree(hypotheses: HypothesisInfo[], tables: HistoryTable[], now = Date.now()): ExperimentNode[] {
  const commitsByHypothesis = new Map<string, CommitNode[]>();
  const commitIndex = new Map<string, CommitNode>();
  const seenRuns = new Set<string>();
  const known = new Set(hypotheses.map((h) => h.id));
  const OTHER = "\u0000other";

  for (const table of tables) {
    for (const row of table.rows ?? []) {
      const owner = row.hypothesis && known.has(row.hypothesis) ? row.hypothesis : OTHER;
      // runs made before the repository's first commit have none
      const sha = row.commit ?? "";
      let commit = commitIndex.get(sha);
      if (!commit) {
        commit = {
          kind: "commit",
          sha,
          label: row.subject || sha.slice(0, 7) || "(no commit)",
          description: row.short ?? sha.slice(0, 7),
          runs: [],
        };
        commitIndex.set(sha, commit);
        const list = commitsByHypothesis.get(owner) ?? [];
        list.push(commit);
        commitsByHypothesis.set(owner, list);
      }
      if (row.run_id && !seenRuns.has(row.run_id)) {
        seenRuns.add(row.run_id);
        commit.runs.push(runNode(row, table, now));
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
    case "queue":
      return node.runs;
    case "search":
    case "searchBaseline":
    case "searchNode":
      return node.children;
    default:
      return [];
  }
}

/** Branches worth asking history for: the current one (no argument) and each hypothesis's. */
export function historyQueries(hypotheses: HypothesisInfo[]): ({ branch: string } | undefined)[] {
  const branches = [...new Set(hypotheses.map((h) => h.branch).filter((b): b is string => !!b))];
  return [undefined, ...branches.map((branch) => ({ branch }))];
}
