// The status bar item: server state, the running task, and tokens and cost spent.
import type { ServerStatus } from "./protocol";
import type { ServerManager, ServerState } from "./server";
import { getSetting, vscode } from "./vscodeApi";

export function formatTokens(n: number): string {
  if (n >= 1_000_000) {
    return `${(n / 1_000_000).toFixed(1)}M`;
  }
  if (n >= 1_000) {
    return `${(n / 1_000).toFixed(1)}k`;
  }
  return String(n);
}

/** The status bar text for a state and the last status the server reported. */
export function statusText(state: ServerState, status: ServerStatus | undefined): string {
  if (state === "starting") {
    return "$(loading~spin) MLR: starting";
  }
  if (state === "failed") {
    return "$(error) MLR: stopped";
  }
  if (state === "stopped" || !status) {
    return state === "running" ? "$(beaker) MLR" : "$(circle-slash) MLR: off";
  }
  const usage = status.usage ?? { input_tokens: 0, output_tokens: 0, cost_usd: 0 };
  const tokens = (usage.input_tokens ?? 0) + (usage.output_tokens ?? 0);
  const cost = typeof usage.cost_usd === "number" ? ` $${usage.cost_usd.toFixed(2)}` : "";
  const task = status.tasks?.[0];
  const head = task ? `$(sync~spin) MLR: ${task.title}` : "$(beaker) MLR";
  return `${head} · ${formatTokens(tokens)} tok${cost}`;
}

export function statusTooltip(state: ServerState, status: ServerStatus | undefined, lastError?: string): string {
  if (!status || state !== "running") {
    return `MLR-Copilot server: ${state}${lastError ? `\n${lastError}` : ""}`;
  }
  const tasks = status.tasks?.length ? status.tasks.map((t) => `• ${t.title}`).join("\n") : "no task running";
  const u = status.usage;
  return [
    `MLR-Copilot ${status.version}: running`,
    `workspace: ${status.workspace}`,
    `model: ${status.provider} ${status.model}`,
    tasks,
    `tokens: ${u?.input_tokens ?? 0} in, ${u?.output_tokens ?? 0} out` +
      (typeof u?.cost_usd === "number" ? `, $${u.cost_usd.toFixed(4)}` : ""),
  ].join("\n");
}

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("mlrCopilot.status", vscode.StatusBarAlignment.Left, 50);
  private timer: NodeJS.Timeout | undefined;
  private last: ServerStatus | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly server: ServerManager) {
    this.item.name = "MLR-Copilot";
    this.item.command = "mlrCopilot.client.showStatus";
    this.render();
    this.item.show();
    this.subscriptions.push(
      server.onDidChangeState(() => {
        this.last = undefined;
        this.render();
        void this.refresh();
      }),
    );
    this.schedule();
  }

  get lastStatus(): ServerStatus | undefined {
    return this.last;
  }

  /** Re-read the poll interval (after a settings change). */
  schedule(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    const seconds = getSetting<number>("mlrCopilot.statusPollSeconds") ?? 5;
    if (seconds > 0) {
      this.timer = setInterval(() => void this.refresh(), seconds * 1000);
    }
  }

  async refresh(): Promise<ServerStatus | undefined> {
    try {
      this.last = await this.server.status();
    } catch (error) {
      this.last = undefined;
      this.server.log(`status: ${(error as Error).message}`);
    }
    this.render();
    return this.last;
  }

  private render(): void {
    const state = this.server.state;
    this.item.text = statusText(state, this.last);
    this.item.tooltip = statusTooltip(state, this.last, this.server.lastError);
    this.item.backgroundColor =
      state === "failed" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  dispose(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
    this.subscriptions.forEach((d) => d.dispose());
    this.item.dispose();
  }
}
