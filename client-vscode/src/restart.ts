// How often a crashed server is started again: at most `maxRestarts` within a sliding
// window, so a server that dies at every start stops with a message instead of looping.

export interface RestartDecision {
  restart: boolean;
  /** 1-based number of this restart within the window (when restarting). */
  attempt: number;
  max: number;
}

export class RestartPolicy {
  private crashes: number[] = [];

  constructor(
    readonly maxRestarts = 3,
    readonly windowMs = 3 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record a crash and decide whether to start the server again. */
  onCrash(): RestartDecision {
    const t = this.now();
    this.crashes = this.crashes.filter((c) => t - c < this.windowMs);
    this.crashes.push(t);
    const attempt = this.crashes.length;
    return { restart: attempt <= this.maxRestarts, attempt, max: this.maxRestarts };
  }

  /** A restart the user asked for starts the count afresh. */
  reset(): void {
    this.crashes = [];
  }
}

export function crashMessage(reason: string, decision: RestartDecision, windowMs: number): string {
  if (decision.restart) {
    return `MLR-Copilot server stopped (${reason}); restarting (${decision.attempt}/${decision.max}).`;
  }
  const minutes = Math.round(windowMs / 60_000);
  return (
    `MLR-Copilot server stopped (${reason}) ${decision.attempt} times within ${minutes} minutes and will not be ` +
    "restarted. Check the server log, fix the cause, then run 'MLR-Copilot: Restart server'."
  );
}
