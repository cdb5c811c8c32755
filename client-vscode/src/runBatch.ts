// What "Run on All Accepted Hypotheses" and "Check Out Run in Worktree" show, without the
// vscode API: the summary of a batch of runs, the run picker's items and where a checkout
// goes in a folder the user picks.
import * as path from "node:path";
import type { RunNode } from "./experiments";
import type { BatchItem, RunRecord } from "./protocol";
import { queuedRunId } from "./queue";
import { formatValue } from "./runText";

const ERRORS_SHOWN = 2;

export interface BatchSummary {
  message: string;
  /** Something to look at: a run that did not pass, or a hypothesis that could not run. */
  warn: boolean;
}

/** One notification for a batch: the runs by status, then why the others did not run. */
export function batchSummary(items: BatchItem[]): BatchSummary {
  if (!items.length) {
    return { message: "MLR-Copilot: no accepted hypothesis to run: accept one and implement it first.", warn: true };
  }
  const statuses = new Map<string, number>();
  for (const item of items) {
    if (item.run) {
      statuses.set(item.run.status, (statuses.get(item.run.status) ?? 0) + 1);
    }
  }
  const ran = [...statuses].map(([status, count]) => `${count} ${status}`).join(", ");
  const errors = items.filter((i) => !i.run).map((i) => i.error || `${i.target} did not run`);
  const runs = items.length - errors.length;
  let message = `MLR-Copilot: ${runs} run${runs === 1 ? "" : "s"} of accepted hypotheses${ran ? ` (${ran})` : ""}.`;
  if (errors.length) {
    const more = errors.length > ERRORS_SHOWN ? ` (+${errors.length - ERRORS_SHOWN} more)` : "";
    message += ` Not run: ${errors.slice(0, ERRORS_SHOWN).join("; ")}${more}.`;
  }
  return { message, warn: errors.length > 0 || [...statuses.keys()].some((s) => s !== "passed") };
}

export interface RunPick {
  label: string;
  description: string;
  detail?: string;
  runId: string;
}

/** Runs with a commit, newest first, as quick pick items. */
export function runPicks(runs: RunRecord[]): RunPick[] {
  return runs
    .filter((r) => typeof r.commit === "string" && r.commit)
    .sort((a, b) => (b.started_at ?? "").localeCompare(a.started_at ?? "") || b.id.localeCompare(a.id))
    .map((r) => {
      const value = r.primary_metric ? r.metrics?.[r.primary_metric] : undefined;
      const metric = typeof value === "number" ? ` · ${r.primary_metric} ${formatValue(value)}` : "";
      return {
        label: r.id,
        description: `${r.status} · ${(r.commit ?? "").slice(0, 7)}${metric}`,
        detail: [r.hypothesis, r.branch].filter(Boolean).join(" · ") || undefined,
        runId: r.id,
      };
    });
}

/** The new folder for run `runId` inside the folder the user chose: named as the server's
 * default is (`<workspace>-run-<id>`), so it never is the chosen folder itself. */
export function checkoutFolder(chosen: string, workspaceName: string, runId: string): string {
  return path.join(chosen, `${workspaceName}-run-${runId}`);
}

/** The run id a command was given: the id itself (the panel), or a run or queued run of the tree. */
export function runIdArg(arg: unknown): string | undefined {
  const node = arg as Partial<RunNode> | undefined;
  return node?.kind === "run" && typeof node.runId === "string" ? node.runId : queuedRunId(arg);
}
