// The run queue in the "MLR Experiments" view, as plain data from mlrCopilot.queue: a "Queue"
// node over the runs waiting, running and lately ended; tree.ts maps it onto tree items.
import type { QueuedRun } from "./protocol";

export type QueueTone = "good" | "bad" | "running" | "waiting";

export interface QueuedNode {
  kind: "queued";
  runId: string;
  label: string;
  description: string;
  tooltip: string;
  state: string;
  tone: QueueTone;
  /** Waiting or running, and no cancel asked yet: the view offers Cancel. */
  cancellable: boolean;
}

export interface QueueNode {
  kind: "queue";
  label: string;
  description: string;
  /** Runs wait or run: the node opens; otherwise it stays folded, so ended runs do not push
   * the hypotheses out of a short view. */
  active: boolean;
  runs: QueuedNode[];
}

const ACTIVE = new Set(["pending", "running"]);

export function elapsedText(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  if (whole < 60) {
    return `${whole}s`;
  }
  if (whole < 3600) {
    return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, "0")}m`;
}

function tone(state: string): QueueTone {
  if (state === "pending") {
    return "waiting";
  }
  if (state === "running") {
    return "running";
  }
  return state === "finished" ? "good" : "bad";
}

function queuedNode(run: QueuedRun): QueuedNode {
  const where = run.slot !== null && run.slot !== undefined ? `slot ${run.slot}` : "waiting for a slot";
  const gpus = run.gpu_ids?.length ? ` · GPU ${run.gpu_ids.join(",")}` : "";
  const asked = run.cancel_requested && ACTIVE.has(run.state) ? " · cancelling" : "";
  const details = [run.node ? `of ${run.node}` : "", run.host ? `on ${run.host}` : "", run.reason ?? ""];
  return {
    kind: "queued",
    runId: run.run_id,
    label: run.run_id,
    description: `${run.state} · ${where}${gpus} · ${elapsedText(run.elapsed_s)}${asked}`,
    tooltip: [`run ${run.run_id}: ${run.state}`, ...details.filter((d) => d)].join("\n"),
    state: run.state,
    tone: tone(run.state),
    cancellable: ACTIVE.has(run.state) && !run.cancel_requested,
  };
}

/** The "Queue" node, or none when nothing is queued or lately ended. */
export function buildQueueNode(runs: QueuedRun[]): QueueNode | undefined {
  if (!runs.length) {
    return undefined;
  }
  const running = runs.filter((r) => r.state === "running").length;
  const waiting = runs.filter((r) => r.state === "pending").length;
  return {
    kind: "queue",
    label: "Queue",
    description: `${running} running, ${waiting} waiting`,
    active: running + waiting > 0,
    runs: runs.map(queuedNode),
  };
}

/** How many runs wait or run. */
export function activeCount(runs: QueuedRun[]): number {
  return runs.filter((r) => ACTIVE.has(r.state)).length;
}

/** Whether the view should ask again soon: a run is waiting or running. */
export function queueIsActive(runs: QueuedRun[]): boolean {
  return activeCount(runs) > 0;
}

/** The run id a Cancel action was given: a queue tree node or the id itself. */
export function queuedRunId(arg: unknown): string | undefined {
  if (typeof arg === "string") {
    return arg;
  }
  const node = arg as Partial<QueuedNode> | undefined;
  return node?.kind === "queued" && typeof node.runId === "string" ? node.runId : undefined;
}
