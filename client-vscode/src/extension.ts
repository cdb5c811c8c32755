import { registerCommands } from "./commands";
import { ExperimentsPanel } from "./experimentsPanel";
import { REVISION_SCHEME, RevisionContentProvider } from "./searchCommands";
import { ApiKeys } from "./secrets";
import { ServerManager } from "./server";
import { RESTART_SETTINGS, SERVER_SETTINGS } from "./settings";
import { StatusBar } from "./status";
import { COMMIT_SCHEME, CommitContentProvider, ExperimentsProvider } from "./tree";
import { onPythonEnvironmentChange, showInfo, vscode } from "./vscodeApi";

let server: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("MLR-Copilot");
  const keys = new ApiKeys(context.secrets);
  let tree: ExperimentsProvider | undefined;
  let status: StatusBar | undefined;
  const refreshAll = () => {
    void tree?.refresh();
    void status?.refresh();
    ExperimentsPanel.refreshOpen();
  };
  server = new ServerManager(output, keys, refreshAll);
  tree = new ExperimentsProvider(server);
  status = new StatusBar(server);
  context.subscriptions.push(
    output,
    server,
    tree,
    status,
    vscode.window.createTreeView("mlrCopilot.experiments", { treeDataProvider: tree, showCollapseAll: true }),
    vscode.workspace.registerTextDocumentContentProvider(COMMIT_SCHEME, new CommitContentProvider()),
    vscode.workspace.registerTextDocumentContentProvider(REVISION_SCHEME, new RevisionContentProvider()),
  );
  registerCommands(context, { server, status, tree, keys });
  const runningServer = server;
  context.subscriptions.push(
    vscode.commands.registerCommand("mlrCopilot.client.showExperiments", () => ExperimentsPanel.show(context.extensionUri, runningServer)),
  );

  const serverKeys = Object.keys(SERVER_SETTINGS).map((k) => `mlrCopilot.${k}`);
  let pending: NodeJS.Timeout | undefined;
  context.subscriptions.push(
    server.onDidChangeState((state) => state === "running" && void tree?.refresh()),
    server.onDidChangeSearch(() => void tree?.refreshSearch()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("mlrCopilot.statusPollSeconds")) {
        status?.schedule();
      }
      const restartFor = [...RESTART_SETTINGS, ...serverKeys].find((key) => event.affectsConfiguration(key));
      if (!restartFor) {
        return;
      }
      // Several keys saved at once (settings.json edit) make one restart.
      clearTimeout(pending);
      pending = setTimeout(() => void restartForSettings(restartFor, status), 500);
    }),
    onPythonEnvironmentChange(() => {
      if (server?.interpreter?.source === "python-extension" || server?.state === "failed") {
        void server?.restart("the Python extension's active environment changed");
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => void server?.restart("the workspace folders changed")),
  );

  await server.start();
}

/** Settings are read at start: restart, but ask first when a task would be cut off. */
async function restartForSettings(key: string, status: StatusBar | undefined): Promise<void> {
  if (!server) {
    return;
  }
  const running = status?.lastStatus?.tasks ?? [];
  if (running.length) {
    const NOW = "Restart Now";
    const pick = await showInfo(
      `'${key}' changed. Restarting the MLR-Copilot server applies it but stops '${running[0].title}'.`,
      NOW,
      "Later",
    );
    if (pick !== NOW) {
      return;
    }
  }
  await server.restart(`'${key}' changed`, true);
}

export async function deactivate(): Promise<void> {
  await server?.stop();
}
