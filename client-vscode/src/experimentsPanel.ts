// The "MLR-Copilot: Experiments" webview: every run of every branch as a table, a plot and a
// comparison of two runs. The page (webview/panelView.ts, bundled to media/panel.js) shapes
// and draws; this side only fetches from the server, opens logs and commits, and hands a run's
// checkout to its palette command.
import { anyRunning, type FromPanel, type ToPanel } from "./panelData";
import { newNonce, panelHtml } from "./panelHtml";
import { ServerCommand, type HistoryTable, type HypothesisInfo, type RunComparison } from "./protocol";
import type { ServerManager } from "./server";
import { CommitContentProvider, resolveLogPath } from "./tree";
import { vscode } from "./vscodeApi";

// While a run is running its row changes on its own; otherwise runs started elsewhere (the
// terminal, another editor) still show up within the slower period.
const RUNNING_POLL_MS = 2_000;
const IDLE_POLL_MS = 15_000;

export class ExperimentsPanel implements vscode.Disposable {
  static readonly viewType = "mlrCopilot.experimentsPanel";
  private static current: ExperimentsPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;

  /** Open the panel, or bring the open one forward and refresh it. */
  static show(extensionUri: vscode.Uri, server: ServerManager): ExperimentsPanel {
    if (ExperimentsPanel.current) {
      ExperimentsPanel.current.panel.reveal();
      void ExperimentsPanel.current.refresh();
      return ExperimentsPanel.current;
    }
    const media = vscode.Uri.joinPath(extensionUri, "media");
    const panel = vscode.window.createWebviewPanel(ExperimentsPanel.viewType, "MLR-Copilot: Experiments", vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [media],
      retainContextWhenHidden: true,
    });
    ExperimentsPanel.current = new ExperimentsPanel(panel, media, server);
    return ExperimentsPanel.current;
  }

  /** Refresh the open panel, if any (after a server command: a run started or ended). */
  static refreshOpen(): void {
    void ExperimentsPanel.current?.refresh();
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    media: vscode.Uri,
    private readonly server: ServerManager,
  ) {
    const webview = panel.webview;
    webview.html = panelHtml(
      {
        cspSource: webview.cspSource,
        scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, "panel.js")).toString(),
        styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, "panel.css")).toString(),
      },
      newNonce(),
    );
    this.disposables.push(
      webview.onDidReceiveMessage((message: FromPanel) => void this.handle(message)),
      panel.onDidChangeViewState(() => panel.visible && void this.refresh()),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private post(message: ToPanel): void {
    void this.panel.webview.postMessage(message);
  }

  private async handle(message: FromPanel): Promise<void> {
    switch (message.type) {
      case "ready":
      case "refresh":
        return this.refresh();
      case "compare":
        return this.compare(message.a, message.b);
      case "openLog":
        await vscode.window.showTextDocument(resolveLogPath(message.path), { preview: true, viewColumn: vscode.ViewColumn.Beside });
        return;
      case "openCommit":
        await vscode.window.showTextDocument(CommitContentProvider.uriFor(message.sha), { preview: true, viewColumn: vscode.ViewColumn.Beside });
        return;
      case "checkoutRun":
        await vscode.commands.executeCommand("mlrCopilot.client.checkoutRun", message.runId);
        return;
    }
  }

  /** Ask the server again; calls made meanwhile share the round trip. */
  refresh(): Promise<void> {
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<void> {
    clearTimeout(this.timer);
    let running = false;
    try {
      const hypotheses = (await this.server.executeCommand<HypothesisInfo[]>(ServerCommand.listHypotheses)) ?? [];
      const table = await this.server.executeCommand<HistoryTable>(ServerCommand.history, [{ all_branches: true }]);
      running = anyRunning(table);
      this.post({ type: "data", table, hypotheses });
    } catch (error) {
      this.post({ type: "error", message: (error as Error).message });
    }
    this.timer = setTimeout(() => this.panel.visible && void this.refresh(), running ? RUNNING_POLL_MS : IDLE_POLL_MS);
  }

  private async compare(a: string, b: string): Promise<void> {
    try {
      const result = await this.server.executeCommand<RunComparison>(ServerCommand.compare, [a, b]);
      this.post({ type: "comparison", result });
    } catch (error) {
      this.post({ type: "error", message: `Comparing ${a} and ${b}: ${(error as Error).message}` });
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    if (ExperimentsPanel.current === this) {
      ExperimentsPanel.current = undefined;
    }
    this.disposables.forEach((d) => d.dispose());
    this.panel.dispose();
  }
}
