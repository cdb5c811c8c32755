// The shapes the server's commands return: server/mlr_copilot/lsp/results.py, and the
// engine models named on each interface. Fields the server may omit are optional so an older
// server still renders. tests/history/test_client_protocol.py checks every name here against
// the server (fields and command ids), so a rename on either side fails there.

/** engine.py `Engine.usage`. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
}

/** engine.py `Engine.status`. */
export interface ServerStatus {
  version: string;
  workspace: string;
  provider: string;
  model: string;
  tasks: { id: string; title: string }[];
  usage: Usage;
}

export type HypothesisStatus = "proposed" | "accepted" | "rejected";

/** lsp/results.py `HypothesisInfo`. */
export interface HypothesisInfo {
  id: string;
  title: string;
  rank?: number;
  status: HypothesisStatus | string;
  paper?: string | null;
  branch?: string | null;
}

/** lsp/results.py `ProposeResult`. */
export interface ProposeResult {
  document: string;
  hypotheses: HypothesisInfo[];
}

/** One row of history/store.py `HistoryRow`: a run, or a commit without runs. */
export interface HistoryRow {
  commit: string | null;
  short?: string | null;
  subject: string;
  hypothesis?: string | null;
  run_id?: string | null;
  status?: string | null;
  /** The run's value of the table's primary metric. */
  value?: number | null;
  /** Relative change against the baseline run's value, positive meaning better. */
  delta?: number | null;
  /** This row is the baseline run the deltas are measured against. */
  baseline?: boolean;
  dirty?: boolean;
  log_path?: string | null;
  branch?: string | null;
  /** Every metric the run reported; null where it was not finite (the server sends no NaN). */
  metrics?: Record<string, number | null>;
  runner?: string | null;
  /** The machine that ran it. */
  node?: string | null;
  started_at?: string | null;
  duration_s?: number | null;
}

/** history/store.py `HistoryTable`. */
export interface HistoryTable {
  rows: HistoryRow[];
  metric: string | null;
  direction: string | null;
  baseline_run?: string | null;
  baseline_value?: number | null;
  branch?: string | null;
  branches?: string[];
  metrics?: string[];
}

/** runners/model.py `Failure`: one reason a run went wrong, at a workspace file and line when known. */
export interface Failure {
  /** Workspace-relative, POSIX separators. */
  path?: string | null;
  line?: number | null;
  kind: string;
  message: string;
}

/** runners/model.py `RunRecord`, as lsp/results.py `record_summary` sends it. */
export interface RunRecord {
  id: string;
  commit?: string;
  status: string;
  metrics?: Record<string, number>;
  primary_metric?: string | null;
  log_path?: string | null;
  duration_s?: number | null;
  failures?: Failure[];
  branch?: string | null;
  hypothesis?: string | null;
  started_at?: string;
}

/** runners/batch.py `BatchItem`: one run of "Run on all accepted hypotheses" (a hypothesis id,
 * or `baseline`), with its record once ended, or the one line saying why it has none. */
export interface BatchItem {
  target: string;
  branch?: string | null;
  commit?: string | null;
  run: RunRecord | null;
  error?: string | null;
}

/** workspace/checkout.py `RunCheckout`: where a run's commit was checked out. */
export interface RunCheckout {
  run_id: string;
  commit: string;
  path: string;
}

/** lsp/results.py `ImplementResult`. */
export interface ImplementResult {
  branch?: string;
  commits?: string[];
  status?: string;
  message?: string;
}

/** lsp/results.py `UndoResult`. */
export interface UndoResult {
  reverted: boolean;
  commit?: string | null;
}

/** history/compare.py `MetricChange`: `relative` is positive when B is better. */
export interface MetricChange {
  name: string;
  a: number | null;
  b: number | null;
  delta: number | null;
  relative: number | null;
}

/** history/compare.py `SettingPair`. */
export interface SettingPair {
  name: string;
  a: string | number | boolean | null;
  b: string | number | boolean | null;
  same: boolean;
}

/** runners/model.py `EnvironmentChange`. */
export interface EnvironmentChange {
  what: string;
  a: string | null;
  b: string | null;
}

/** history/compare.py `RunComparison`. */
export interface RunComparison {
  run_a: string;
  run_b: string;
  commit_a: string | null;
  commit_b: string | null;
  metrics: MetricChange[];
  settings: SettingPair[];
  /** What each run was: status, branch, hypothesis, start, duration. */
  facts?: SettingPair[];
  environment?: EnvironmentChange[];
  environment_recorded?: boolean;
  diff?: string;
  secret_files?: string[];
  diff_notes?: string[];
}

export type QueueState = "pending" | "running" | "finished" | "failed" | "cancelled" | "interrupted";

/** runners/queue.py `QueuedRun`: a run waiting for a slot, running in one, or lately ended. */
export interface QueuedRun {
  run_id: string;
  state: QueueState | string;
  /** The slot it holds (null while it waits). */
  slot?: number | null;
  gpu_ids?: string[];
  /** What the run is of (a task, a search node); the machine is `host`. */
  node?: string | null;
  host?: string;
  /** Seconds running (or ran); for a waiting run, seconds waiting. */
  elapsed_s: number;
  reason?: string | null;
  cancel_requested?: boolean;
}

/** history/search_tree.py `SearchTreeNode`: a node of the search, `parent` null for a draft (under the baseline). */
export interface SearchTreeNode {
  id: string;
  parent: string | null;
  operator: string;
  hypothesis?: string | null;
  status: string;
  value: number | null;
  /** Relative change against the baseline's value, positive meaning better. */
  delta: number | null;
  cost_usd: number;
  compute_s: number;
  commit: string;
  runs: string[];
  summary: string;
  why?: string;
  best?: boolean;
}

/** history/search_tree.py `SearchTree`: the latest search session (null before any). */
export interface SearchTree {
  session: string;
  metric: string;
  direction: string;
  status: string;
  message?: string;
  base_branch: string;
  base_commit: string;
  baseline_run: string | null;
  baseline_value: number | null;
  best?: string | null;
  cost_usd: number;
  compute_s: number;
  nodes: SearchTreeNode[];
}

/** history/search_tree.py `NodeComparison`: a node against its parent (null: the baseline). */
export interface NodeComparison {
  node: string;
  parent: string | null;
  commit: string;
  parent_commit: string;
  metric: string;
  value: number | null;
  parent_value: number | null;
  delta: number | null;
  runs: RunComparison | null;
  secret_files: string[];
  notes: string[];
}

/** search/model.py `NodeAction`: the answer of Engine.search_act. */
export interface NodeAction {
  action: string;
  node: string;
  child?: string | null;
  queued?: boolean;
  branch?: string | null;
  message: string;
}

export type SearchAction = "improve" | "debug" | "prune" | "promote";

/** The server's command ids (registered in VS Code by the language client). */
export const ServerCommand = {
  status: "mlrCopilot.status",
  proposeHypotheses: "mlrCopilot.proposeHypotheses",
  showPaper: "mlrCopilot.showPaper",
  listHypotheses: "mlrCopilot.listHypotheses",
  acceptHypothesis: "mlrCopilot.acceptHypothesis",
  rejectHypothesis: "mlrCopilot.rejectHypothesis",
  refineHypothesis: "mlrCopilot.refineHypothesis",
  implement: "mlrCopilot.implement",
  undo: "mlrCopilot.undo",
  run: "mlrCopilot.run",
  runAllAccepted: "mlrCopilot.runAllAccepted",
  checkoutRun: "mlrCopilot.checkoutRun",
  debug: "mlrCopilot.debug",
  history: "mlrCopilot.history",
  listRuns: "mlrCopilot.listRuns",
  compare: "mlrCopilot.compare",
  queue: "mlrCopilot.queue",
  cancelQueued: "mlrCopilot.cancelQueued",
  search: "mlrCopilot.search",
  searchTree: "mlrCopilot.searchTree",
  searchAct: "mlrCopilot.searchAct",
  searchCompare: "mlrCopilot.searchCompare",
} as const;

/** Sent by the server while a search it runs writes its journal. */
export const SEARCH_CHANGED = "mlrCopilot/searchChanged";
