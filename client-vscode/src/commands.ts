// The palette commands. Each asks what it needs, calls the server's command through
// workspace/executeCommand, shows the outcome, then refreshes the view and status bar.
import {
  ServerCommand,
  type HypothesisInfo,
  type BatchItem,
  type ImplementResult,
  type ProposeResult,
  type QueuedRun,
  type RunCheckout,
  type RunRecord,
  type ServerStatus,
  type UndoResult,
} from "./protocol";
import { KEY_PROVIDERS, type ApiKeys } from "./secrets";
import type { ServerManager } from "./server";
import type { StatusBar } from "./status";
import { CommitContentProvider, resolveLogPath, type ExperimentsProvider } from "./tree";
import { queuedRunId } from "./queue";
import { registerSearchCommands } from "./searchCommands";
import { formatNumber } from "./experiments";
import { ExperimentsPanel } from "./experimentsPanel";
import { batchSummary, checkoutFolder, runIdArg, runPicks } from "./runBatch";
import { showInfo, showWarning, vscode, workspaceFolder } from "./vscodeApi";

const SHOW_LOG = "Show Log";
// the server has put a batch's runs in the queue by then (planning it is a few git commands)
const QUEUED_SHOWN_MS = 1_500;

export interface CommandDeps {
  server: ServerManager;
  status: StatusBar;
  tree: ExperimentsProvider;
  keys: ApiKeys;
}

type HypothesisFilter = (h: HypothesisInfo) => boolean;

/** The PDF in the active tab, else the visible one of another group, else any open PDF tab. */
export function pdfFromTabs(): vscode.Uri | undefined {
  const uriOf = (tab: vscode.Tab | undefined): vscode.Uri | undefined => {
    const input = tab?.input as { uri?: vscode.Uri } | undefined;
    return input?.uri;
  };
  const isPdf = (uri: vscode.Uri | undefined) => !!uri && uri.path.toLowerCase().endsWith(".pdf");
  const active = uriOf(vscode.window.tabGroups.activeTabGroup.activeTab);
  if (isPdf(active)) {
    return active;
  }
  const open = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => isPdf(uriOf(tab)));
  const shown = open.find((tab) => tab.isActive) ?? open[0];
  // any open paper will do when none has the focus: the first, as VS Code lists the tabs
  return uriOf(shown);
}

export function registerCommands(context: vscode.ExtensionContext, deps: CommandDeps): void {
  const { server, status, tree, keys } = deps;

  const afterCommand = () => {
    void tree.refresh();
    void status.refresh();
  };

  /** Run one server command; a failure is shown with the server's own message. */
  const call = async <T>(command: string, args: unknown[] = []): Promise<T | undefined> => {
    try {
      return await server.executeCommand<T>(command, args);
    } catch (error) {
      await server.reportCommandError(command, error);
      return undefined;
    } finally {
      afterCommand();
    }
  };

  const pickHypothesis = async (placeHolder: string, filter: HypothesisFilter, emptyHint: string) => {
    const all = await call<HypothesisInfo[]>(ServerCommand.listHypotheses);
    if (!all) {
      return undefined;
    }
    const candidates = all.filter(filter);
    if (!candidates.length) {
      void showInfo(all.length ? emptyHint : "No hypotheses yet: run 'MLR-Copilot: Propose hypotheses' on a paper first.");
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      candidates
        .sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity))
        .map((h) => ({
          label: h.title,
          description: `${h.status}${h.rank !== undefined ? ` · rank ${h.rank}` : ""}`,
          detail: h.paper ?? undefined,
          id: h.id,
        })),
      { placeHolder, matchOnDescription: true, matchOnDetail: true },
    );
    return picked?.id;
  };

  /** A hypothesis id from a tree item or code lens argument, else asked for. */
  const hypothesisArg = (arg: unknown): string | undefined => {
    if (typeof arg === "string") {
      return arg;
    }
    if (arg && typeof arg === "object" && "id" in arg && typeof (arg as { id: unknown }).id === "string") {
      return (arg as { id: string }).id;
    }
    return undefined;
  };

  const register = (id: string, handler: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(`mlrCopilot.client.${id}`, handler));

  /** The paper a command works on: its argument, else the PDF open in a tab, else one asked for. */
  const choosePdf = async (arg: unknown, action: string): Promise<vscode.Uri | undefined> => {
    let pdf = arg instanceof vscode.Uri ? arg : pdfFromTabs();
    let source = arg instanceof vscode.Uri ? "the argument" : "the active tab";
    if (!pdf) {
      server.log(`${action}: no PDF is open in a tab; asking for one.`);
      const chosen = await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: { "PDF papers": ["pdf"] },
        openLabel: action,
        title: `Paper to ${action.toLowerCase()}`,
      });
      pdf = chosen?.[0];
      source = "the file picker";
    }
    server.log(pdf ? `${action}: ${pdf.fsPath} (from ${source}).` : `${action}: no paper chosen.`);
    return pdf;
  };

  register("proposeHypotheses", async (arg?: unknown) => {
    const pdf = await choosePdf(arg, "Propose hypotheses");
    if (!pdf) {
      return;
    }
    const result = await call<ProposeResult>(ServerCommand.proposeHypotheses, [pdf.toString()]);
    if (!result) {
      return;
    }
    if (result.document) {
      await vscode.window.showTextDocument(vscode.Uri.parse(result.document), { preview: false });
    }
    void showInfo(`MLR-Copilot: ${result.hypotheses?.length ?? 0} hypotheses proposed from ${pdf.path.split("/").pop()}.`);
  });

  register("showPaper", async (arg?: unknown) => {
    const pdf = await choosePdf(arg, "Show parsed paper");
    if (!pdf) {
      return;
    }
    const markdown = await call<string>(ServerCommand.showPaper, [pdf.toString()]);
    if (typeof markdown !== "string") {
      return;
    }
    // An untitled editor: what was read is shown, and nothing is written to the workspace.
    const document = await vscode.workspace.openTextDocument({ language: "markdown", content: markdown });
    await vscode.window.showTextDocument(document, { preview: false });
  });

  register("acceptHypothesis", async (arg?: unknown) => {
    const id =
      hypothesisArg(arg) ??
      (await pickHypothesis("Hypothesis to accept", (h) => h.status !== "accepted", "Every hypothesis is already accepted."));
    if (id) {
      await call(ServerCommand.acceptHypothesis, [id]);
    }
  });

  register("rejectHypothesis", async (arg?: unknown) => {
    const id =
      hypothesisArg(arg) ??
      (await pickHypothesis("Hypothesis to reject", (h) => h.status !== "rejected", "Every hypothesis is already rejected."));
    if (!id) {
      return;
    }
    const reason = await vscode.window.showInputBox({ prompt: "Why reject it? (optional, helps later proposals)" });
    if (reason === undefined) {
      return;
    }
    await call(ServerCommand.rejectHypothesis, reason ? [id, reason] : [id]);
  });

  register("refineHypothesis", async (arg?: unknown) => {
    const id =
      hypothesisArg(arg) ??
      (await pickHypothesis("Hypothesis to refine", (h) => h.status !== "rejected", "Only rejected hypotheses are left."));
    if (!id) {
      return;
    }
    const feedback = await vscode.window.showInputBox({
      prompt: "How should this hypothesis change?",
      placeHolder: "e.g. use a smaller model; compare against the paper's ablation",
      validateInput: (text) => (text.trim() ? undefined : "Write the feedback to refine with."),
    });
    if (feedback) {
      await call(ServerCommand.refineHypothesis, [id, feedback]);
    }
  });

  register("implement", async (arg?: unknown) => {
    const id =
      hypothesisArg(arg) ??
      (await pickHypothesis(
        "Hypothesis to implement",
        (h) => h.status === "accepted",
        "No accepted hypothesis: accept one first (code lens or 'MLR-Copilot: Accept hypothesis').",
      ));
    if (!id) {
      return;
    }
    const result = await call<ImplementResult>(ServerCommand.implement, [id]);
    if (result) {
      const commits = result.commits?.length ?? 0;
      void showInfo(
        `MLR-Copilot: implementation ${result.status ?? "done"}` +
          (commits
            ? `: ${commits} commit${commits > 1 ? "s" : ""} on ${result.branch}.`
            : `; no commit made${result.message ? ` (${result.message})` : ""}.`),
      );
    }
  });

  register("run", async () => {
    const run = await call<RunRecord>(ServerCommand.run, []);
    if (!run) {
      return;
    }
    const metric = run.primary_metric && run.metrics?.[run.primary_metric];
    const metricText = typeof metric === "number" ? `, ${run.primary_metric} = ${formatNumber(metric)}` : "";
    const time = typeof run.duration_s === "number" ? ` in ${run.duration_s.toFixed(1)} s` : "";
    const OPEN_LOG = "Open Log";
    const SHOW_PROBLEMS = "Show Problems";
    const failures = run.failures?.length ?? 0;
    const message = `MLR-Copilot: run ${run.id} ${run.status}${time}${metricText}.`;
    const pick = failures
      ? await showWarning(`${message} ${failures} problem${failures > 1 ? "s" : ""} reported; quick fix: Fix with MLR-Copilot.`, SHOW_PROBLEMS, OPEN_LOG)
      : await showInfo(message, OPEN_LOG);
    if (pick === OPEN_LOG && run.log_path) {
      await vscode.window.showTextDocument(resolveLogPath(run.log_path), { preview: true });
    } else if (pick === SHOW_PROBLEMS) {
      await vscode.commands.executeCommand("workbench.actions.view.problems");
    }
  });

  register("runAllAccepted", async () => {
    // every run is queued at once: the view's queue shows them waiting and running (it polls
    // while any is active, and refreshes the history as each ends) once it has been asked again
    const queued = setTimeout(() => {
      void tree.refresh();
      ExperimentsPanel.refreshOpen();
    }, QUEUED_SHOWN_MS);
    const items = await call<BatchItem[]>(ServerCommand.runAllAccepted, [{}]);
    clearTimeout(queued);
    if (!items) {
      return;
    }
    const summary = batchSummary(items);
    const SHOW = "Show Experiments";
    const pick = await (summary.warn ? showWarning : showInfo)(summary.message, SHOW);
    if (pick === SHOW) {
      await vscode.commands.executeCommand("mlrCopilot.client.showExperiments");
    }
  });

  register("checkoutRun", async (arg?: unknown) => {
    let runId = runIdArg(arg);
    if (!runId) {
      const runs = await call<RunRecord[]>(ServerCommand.listRuns);
      if (!runs) {
        return;
      }
      const picks = runPicks(runs);
      if (!picks.length) {
        void showInfo("MLR-Copilot: no run with a commit yet.");
        return;
      }
      runId = (await vscode.window.showQuickPick(picks, { placeHolder: "Run whose commit to check out", matchOnDescription: true, matchOnDetail: true }))?.runId;
      if (!runId) {
        return;
      }
    }
    const folder = workspaceFolder();
    const beside = { label: "Beside the workspace", description: folder ? `${folder.name}-run-${runId}` : "", chosen: false };
    const where = await vscode.window.showQuickPick([beside, { label: "In a folder I choose…", description: "", chosen: true }], {
      placeHolder: `Where to check out run ${runId}'s commit (a new folder; nothing existing is overwritten)`,
    });
    if (!where) {
      return;
    }
    let target: string | undefined;
    if (where.chosen) {
      const parent = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, openLabel: "Check Out Here" });
      if (!parent?.[0]) {
        return;
      }
      target = checkoutFolder(parent[0].fsPath, folder?.name ?? "workspace", runId);
    }
    const done = await call<RunCheckout>(ServerCommand.checkoutRun, target ? [runId, target] : [runId]);
    if (!done) {
      return;
    }
    server.log(`checkoutRun: run ${done.run_id} (${done.commit}) in ${done.path}; remove it with git worktree remove.`);
    const OPEN = "Open in New Window";
    const pick = await showInfo(`MLR-Copilot: run ${done.run_id}'s commit ${done.commit.slice(0, 7)} is checked out in ${done.path}.`, OPEN);
    if (pick === OPEN) {
      await vscode.commands.executeCommand("vscode.openFolder", vscode.Uri.file(done.path), { forceNewWindow: true });
    }
  });

  register("debug", async () => {
    const result = await call<Record<string, unknown>>(ServerCommand.debug, []);
    if (result) {
      const state = typeof result.status === "string" ? result.status : "finished";
      void showInfo(`MLR-Copilot: automatic debugging ${state}.`);
    }
  });

  register("undo", async () => {
    const result = await call<UndoResult>(ServerCommand.undo, []);
    if (result) {
      void showInfo(result.reverted ? `MLR-Copilot: reverted ${result.commit ?? "the last change"}.` : "MLR-Copilot: nothing to undo.");
    }
  });

  register("showHistory", async () => {
    await vscode.commands.executeCommand("mlrCopilot.experiments.focus");
    await tree.refresh();
    if (!tree.hasContent) {
      void showInfo("MLR-Copilot: no hypotheses or runs yet.");
    }
  });

  register("showStatus", async () => {
    const current: ServerStatus | undefined = server.state === "running" ? await status.refresh() : undefined;
    if (!current) {
      const pick = await showWarning(
        `MLR-Copilot server: ${server.state}${server.lastError ? ` (${server.lastError})` : ""}.`,
        SHOW_LOG,
        "Restart",
      );
      if (pick === SHOW_LOG) {
        server.output.show(true);
      } else if (pick === "Restart") {
        await server.restart("asked by the user", true);
      }
      return;
    }
    server.log(`status: ${JSON.stringify(current)}`);
    const u = current.usage;
    const cost = typeof u?.cost_usd === "number" ? `, $${u.cost_usd.toFixed(4)}` : "";
    const tasks = current.tasks?.length ? current.tasks.map((t) => t.title).join(", ") : "idle";
    const pick = await showInfo(
      `MLR-Copilot ${current.version} running (${tasks}) · ${current.provider} ${current.model} · ` +
        `${u?.input_tokens ?? 0} tokens in, ${u?.output_tokens ?? 0} out${cost} · ${current.workspace}`,
      SHOW_LOG,
    );
    if (pick === SHOW_LOG) {
      server.output.show(true);
    }
  });

  register("setApiKey", async () => {
    const provider = await vscode.window.showQuickPick(
      KEY_PROVIDERS.map((p) => ({ label: p.label, description: p.env, env: p.env })),
      { placeHolder: "Provider whose API key to store" },
    );
    if (!provider) {
      return;
    }
    const value = await vscode.window.showInputBox({
      prompt: `${provider.env} (stored in VS Code's secret storage; leave empty to remove it)`,
      password: true,
      ignoreFocusOut: true,
    });
    if (value === undefined) {
      return;
    }
    await keys.set(provider.env, value.trim());
    void showInfo(`MLR-Copilot: ${provider.env} ${value.trim() ? "stored" : "removed"}; restarting the server.`);
    await server.restart(`${provider.env} changed`, true);
  });

  register("restartServer", () => server.restart("asked by the user", true));
  register("showLog", () => server.output.show(true));
  register("refreshExperiments", () => tree.refresh());
  registerSearchCommands(register, call);
  register("cancelQueued", async (arg?: unknown) => {
    const runId = queuedRunId(arg);
    if (!runId) {
      return;
    }
    const entry = await call<QueuedRun>(ServerCommand.cancelQueued, [runId]);
    if (entry) {
      void showInfo(entry.state === "cancelled" ? `Run ${runId} cancelled.` : `Run ${runId}: cancel requested.`);
    }
  });
  register("openRunLog", async (logPath: unknown) => {
    if (typeof logPath === "string") {
      await vscode.window.showTextDocument(resolveLogPath(logPath), { preview: true });
    }
  });
  register("openCommit", async (sha: unknown) => {
    if (typeof sha === "string") {
      const doc = await vscode.workspace.openTextDocument(CommitContentProvider.uriFor(sha));
      await vscode.languages.setTextDocumentLanguage(doc, "diff");
      await vscode.window.showTextDocument(doc, { preview: true });
    }
  });
}
