// The latest tree search in the "MLR Experiments" view, from mlrCopilot.searchTree: a
// "Search <session>" node over the baseline, and each node nested under its parent (drafts
// under the baseline). Plain data, and how each node looks as a tree item.
import type { SearchTree, SearchTreeNode } from "./protocol";
import { formatValue } from "./runText";
import { vscode } from "./vscodeApi";

export type SearchTone = "good" | "bad" | "running" | "pruned" | "pending";

export interface SearchStepNode {
  kind: "searchNode";
  session: string;
  nodeId: string;
  status: string;
  tone: SearchTone;
  commit: string;
  label: string;
  description: string;
  tooltip: string;
  children: SearchStepNode[];
}

export interface SearchBaselineNode {
  kind: "searchBaseline";
  session: string;
  commit: string;
  label: string;
  description: string;
  tooltip: string;
  children: SearchStepNode[];
}

export interface SearchRootNode {
  kind: "search";
  session: string;
  label: string;
  description: string;
  tooltip: string;
  children: SearchBaselineNode[];
}

export type SearchViewNode = SearchRootNode | SearchBaselineNode | SearchStepNode;

const TONES: Record<string, SearchTone> = { passed: "good", failed: "bad", running: "running", pruned: "pruned" };

function oneLine(text: unknown): string {
  return typeof text === "string" ? text.replace(/\s+/g, " ").trim() : "";
}

export function percent(delta: number | null | undefined): string {
  return typeof delta === "number" && Number.isFinite(delta) ? `${delta >= 0 ? "+" : ""}${(delta * 100).toFixed(1)}%` : "";
}

/** "score 0.7000 (+40.0%)", or "no score" when the node has no value yet. */
function metricText(metric: string, value: number | null | undefined, delta?: number | null): string {
  if (typeof value !== "number") {
    return `no ${metric}`;
  }
  const change = percent(delta);
  return `${metric} ${formatValue(value)}${change ? ` (${change})` : ""}`;
}

function seconds(value: number): string {
  return value >= 60 ? `${Math.floor(value / 60)}m${String(Math.round(value % 60)).padStart(2, "0")}s` : `${value.toFixed(1)}s`;
}

function stepNode(tree: SearchTree, node: SearchTreeNode, children: SearchStepNode[]): SearchStepNode {
  const metric = oneLine(tree.metric) || "metric";
  const status = oneLine(node.status) || "unknown";
  const best = node.best ? " ★" : "";
  const cost = `$${(node.cost_usd ?? 0).toFixed(4)}`;
  const why = node.why && status !== "passed" ? `\nWhy: ${oneLine(node.why)}` : "";
  const runs = node.runs?.length ? `\nRuns: ${node.runs.join(", ")}` : "\nNot run";
  return {
    kind: "searchNode",
    session: tree.session,
    nodeId: node.id,
    status,
    tone: TONES[status] ?? "pending",
    commit: node.commit,
    label: `${node.id} ${oneLine(node.operator)} · ${metricText(metric, node.value, node.delta)} · ${status}${best}`,
    description: `${cost} · ${seconds(node.compute_s ?? 0)} · ${node.commit.slice(0, 7)} · ${oneLine(node.summary)}`,
    tooltip:
      `${node.id}: ${oneLine(node.operator)} of ${node.parent ?? "the baseline"}${node.hypothesis ? ` (${node.hypothesis})` : ""}\n` +
      `${oneLine(node.summary)}\n${metricText(metric, node.value, node.delta)} against the baseline · ${status}${why}\n` +
      `LLM ${cost} · compute ${seconds(node.compute_s ?? 0)} · commit ${node.commit.slice(0, 12)}${runs}`,
    children,
  };
}

/** The search as tree nodes; a node whose parent is missing from the journal goes under the baseline. */
export function buildSearchNode(tree: SearchTree | null | undefined): SearchRootNode | undefined {
  if (!tree || !Array.isArray(tree.nodes)) {
    return undefined;
  }
  const known = new Set(tree.nodes.map((n) => n.id));
  const byParent = new Map<string | null, SearchTreeNode[]>();
  for (const node of tree.nodes) {
    const parent = node.parent && known.has(node.parent) && node.parent !== node.id ? node.parent : null;
    byParent.set(parent, [...(byParent.get(parent) ?? []), node]);
  }
  const placed = new Set<string>();
  const under = (parent: string | null): SearchStepNode[] =>
    (byParent.get(parent) ?? [])
      // a journal edited by hand may hold a cycle: each node is shown once
      .filter((n) => !placed.has(n.id) && placed.add(n.id))
      .map((n) => stepNode(tree, n, under(n.id)));
  const drafts = under(null);
  // nodes in a cycle of parents (a journal edited by hand) are reached from no draft
  for (const n of tree.nodes) {
    if (!placed.has(n.id)) {
      placed.add(n.id);
      drafts.push(stepNode(tree, n, under(n.id)));
    }
  }
  const metric = oneLine(tree.metric) || "metric";
  const baseline: SearchBaselineNode = {
    kind: "searchBaseline",
    session: tree.session,
    commit: tree.base_commit,
    label: `Baseline · ${metricText(metric, tree.baseline_value)}`,
    description: `run ${tree.baseline_run ?? "none"} · ${tree.base_commit.slice(0, 7)} · ${oneLine(tree.base_branch)}`,
    tooltip: `Deltas are measured against the baseline run ${tree.baseline_run ?? "(not run yet)"} on ${tree.base_commit.slice(0, 12)}`,
    children: drafts,
  };
  const count = tree.nodes.length;
  return {
    kind: "search",
    session: tree.session,
    label: `Search ${tree.session}`,
    description: `${oneLine(tree.status)} · ${count} node${count === 1 ? "" : "s"}${tree.best ? ` · best ${tree.best}` : ""}`,
    tooltip:
      `Search ${tree.session} on ${metric} (${oneLine(tree.direction)}): ${oneLine(tree.status)}` +
      `${tree.message ? ` (${oneLine(tree.message)})` : ""}\nLLM $${(tree.cost_usd ?? 0).toFixed(4)} · compute ${seconds(tree.compute_s ?? 0)}`,
    children: [baseline],
  };
}

const STEP_ICON: Record<SearchTone, [string, string | undefined]> = {
  good: ["pass", "testing.iconPassed"],
  bad: ["error", "testing.iconFailed"],
  running: ["sync~spin", undefined],
  pruned: ["circle-slash", undefined],
  pending: ["circle-outline", undefined],
};

/** How a search node looks: package.json offers the node actions by `contextValue`. */
export function decorateSearchItem(item: vscode.TreeItem, node: SearchViewNode): void {
  item.description = node.description;
  item.tooltip = node.tooltip;
  switch (node.kind) {
    case "search":
      item.id = `search:${node.session}`;
      item.iconPath = new vscode.ThemeIcon("type-hierarchy");
      item.contextValue = "search";
      break;
    case "searchBaseline":
      item.id = `search:${node.session}:baseline`;
      item.iconPath = new vscode.ThemeIcon("target");
      item.contextValue = "searchBaseline";
      break;
    case "searchNode": {
      item.id = `search:${node.session}:${node.nodeId}`;
      const [name, color] = STEP_ICON[node.tone];
      item.iconPath = new vscode.ThemeIcon(name, color ? new vscode.ThemeColor(color) : undefined);
      item.contextValue = `searchNode.${node.status}`;
      item.command = { command: "mlrCopilot.client.openCommit", title: "Open commit diff", arguments: [node.commit] };
      break;
    }
  }
}
