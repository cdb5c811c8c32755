// The shapes the server's commands return (see the server contract). Fields the
// server may omit are optional so an older server still renders.

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
}

export interface ServerStatus {
  version: string;
  workspace: string;
  provider: string;
  model: string;
  tasks: { id: string; title: string }[];
  usage: Usage;
}

export type HypothesisStatus = "proposed" | "accepted" | "rejected";

export interface HypothesisInfo {
  id: string;
  title: string;
  rank?: number;
  status: HypothesisStatus | string;
  paper?: string | null;
  branch?: string | null;
}

export interface ProposeResult {
  document: string;
  hypotheses: HypothesisInfo[];
}

export interface HistoryRow {
  commit: string;
  short?: string;
  subject: string;
  hypothesis?: string | null;
  run_id?: string | null;
  status?: string | null;
  metric?: string | null;
  value?: number | null;
  delta?: number | null;
  log_path?: string | null;
}

export interface HistoryTable {
  rows: HistoryRow[];
  baseline: (Partial<HistoryRow> & Record<string, unknown>) | null;
  metric: string | null;
  direction: string | null;
}

export interface RunFailure {
  file?: string;
  line?: number;
  message?: string;
}

export interface RunRecord {
  id: string;
  commit?: string;
  status: string;
  metrics?: Record<string, number>;
  primary_metric?: string | null;
  log_path?: string | null;
  duration_s?: number | null;
  failures?: RunFailure[];
}

export interface ImplementResult {
  branch?: string;
  commits?: string[];
  status?: string;
  message?: string;
}

export interface UndoResult {
  reverted: boolean;
  commit?: string | null;
}

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
  debug: "mlrCopilot.debug",
  history: "mlrCopilot.history",
  listRuns: "mlrCopilot.listRuns",
} as const;
