import "./vscodeStub";
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ThemeIcon } from "vscode";
import { childrenOf } from "../../src/experiments";
import type { NodeComparison, SearchTree, SearchTreeNode } from "../../src/protocol";
import { comparisonText, searchNodeArg } from "../../src/searchCommands";
import { buildSearchNode, type SearchStepNode } from "../../src/searchTree";
import { toTreeItem } from "../../src/tree";

// Nodes as history/search_tree.py serialises them (SearchTreeNode.model_dump(mode="json")).
function node(fields: Partial<SearchTreeNode> & { id: string }): SearchTreeNode {
  return {
    parent: null, operator: "draft", hypothesis: null, status: "passed", value: null, delta: null, cost_usd: 0.0012,
    compute_s: 3.2, commit: `${fields.id}abcdef0123456789`, runs: [`run-${fields.id}`], summary: "", why: "", best: false,
    ...fields,
  };
}

const tree: SearchTree = {
  session: "20261203-024754",
  metric: "score",
  direction: "maximize",
  status: "nodes",
  message: "the node budget is spent",
  base_branch: "main",
  base_commit: "60de1274aaaa",
  baseline_run: "r0",
  baseline_value: 0.5,
  best: "n004",
  cost_usd: 0.01,
  compute_s: 12,
  nodes: [
    node({ id: "n001", value: 0.6, delta: 0.2, summary: "Raise to 0.6", hypothesis: "h1" }),
    node({ id: "n002", status: "failed", summary: "Break it", why: "RuntimeError: broken on purpose", runs: ["r2"] }),
    node({ id: "n003", parent: "n002", operator: "debug", value: 0.5, delta: 0, summary: "Unbreak it" }),
    node({ id: "n004", parent: "n001", operator: "improve", value: 0.7, delta: 0.4, summary: "Raise to 0.7", best: true }),
    node({ id: "n005", parent: "n001", operator: "improve", status: "pruned", runs: [], summary: "improve: no edit applied" }),
    node({ id: "n009", parent: "gone", operator: "improve", status: "running", runs: [] }),
  ],
};

const ids = (nodes: unknown[]) => nodes.map((n) => (n as SearchStepNode).nodeId);

test("the search root holds the baseline, and each node sits under its parent (drafts under the baseline)", () => {
  const root = buildSearchNode(tree)!;
  assert.equal(root.label, "Search 20261203-024754");
  assert.match(root.description, /^nodes · 6 nodes · best n004$/);
  const [baseline] = childrenOf(root);
  assert.equal(childrenOf(root).length, 1);
  assert.equal(baseline.kind, "searchBaseline");
  assert.equal((baseline as { label: string }).label, "Baseline · score 0.5000");
  // a node whose parent is not in the journal is shown under the baseline, not lost
  assert.deepEqual(ids(childrenOf(baseline)), ["n001", "n002", "n009"]);
  const [n001, n002] = childrenOf(baseline);
  assert.deepEqual(ids(childrenOf(n001)), ["n004", "n005"]);
  assert.deepEqual(ids(childrenOf(n002)), ["n003"]);
  assert.deepEqual(childrenOf(childrenOf(n001)[0]), []);
});

test("a node's label says operator, metric with its delta against the baseline, and status", () => {
  const root = buildSearchNode(tree)!;
  const [n001, n002] = childrenOf(childrenOf(root)[0]) as SearchStepNode[];
  const [n004, n005] = childrenOf(n001) as SearchStepNode[];
  assert.equal(n001.label, "n001 draft · score 0.6000 (+20.0%) · passed");
  assert.equal(n004.label, "n004 improve · score 0.7000 (+40.0%) · passed ★");
  assert.equal(n002.label, "n002 draft · no score · failed");
  assert.equal(n005.label, "n005 improve · no score · pruned");
  assert.equal(n004.description, "$0.0012 · 3.2s · n004abc · Raise to 0.7");
  assert.match(n002.tooltip, /Why: RuntimeError: broken on purpose/);
  assert.match(n005.tooltip, /Not run/);
  assert.match(n004.tooltip, /improve of n001/);
});

test("node items carry the context value the menus match, an icon per status, and open their commit", () => {
  const root = buildSearchNode(tree)!;
  const rootItem = toTreeItem(root);
  assert.equal(rootItem.id, "search:20261203-024754");
  assert.equal(rootItem.collapsibleState, 2);
  const [n001, n002] = childrenOf(childrenOf(root)[0]) as SearchStepNode[];
  const passed = toTreeItem(n001);
  assert.equal(passed.contextValue, "searchNode.passed");
  assert.equal((passed.iconPath as ThemeIcon).id, "pass");
  assert.deepEqual(passed.command?.arguments, [n001.commit]);
  const failed = toTreeItem(n002);
  assert.equal(failed.contextValue, "searchNode.failed");
  assert.equal((failed.iconPath as ThemeIcon).id, "error");
  const pruned = toTreeItem(childrenOf(n001)[1]);
  assert.equal((pruned.iconPath as ThemeIcon).id, "circle-slash");
  assert.equal(pruned.id, "search:20261203-024754:n005#leaf");
});

test("no search, or a malformed answer, shows no search node", () => {
  assert.equal(buildSearchNode(null), undefined);
  assert.equal(buildSearchNode({ ...tree, nodes: undefined as unknown as SearchTreeNode[] }), undefined);
});

test("a node that names itself or a cycle of parents is shown once", () => {
  const looped = { ...tree, nodes: [node({ id: "a", parent: "a" }), node({ id: "b", parent: "c" }), node({ id: "c", parent: "b" })] };
  const baseline = childrenOf(buildSearchNode(looped)!)[0];
  assert.deepEqual(ids(childrenOf(baseline)), ["a", "b"]);
  assert.deepEqual(ids(childrenOf(childrenOf(baseline)[1])), ["c"]);
});

test("node actions take only a search node from the view", () => {
  const step = childrenOf(childrenOf(buildSearchNode(tree)!)[0])[0];
  assert.equal(searchNodeArg(step)?.nodeId, "n001");
  assert.equal(searchNodeArg({ kind: "run", runId: "r" }), undefined);
  assert.equal(searchNodeArg(undefined), undefined);
});

test("a comparison with the parent reads as the metric's change", () => {
  const c: NodeComparison = {
    node: "n004", parent: "n001", commit: "b", parent_commit: "a", metric: "score", value: 0.7, parent_value: 0.6,
    delta: 0.16666, runs: null, secret_files: [], notes: [],
  };
  assert.equal(comparisonText(c), "n004 against n001: score 0.6000 → 0.7000 (+16.7%)");
  assert.equal(comparisonText({ ...c, parent: null, value: null, delta: null, notes: ["node n004 has no run"] }),
    "n004 against the baseline: score 0.6000 → none. node n004 has no run");
});
