// The "MLR Experiments" view: hypotheses, their commits and runs.
import * as path from "node:path";
import { buildExperimentTree, childrenOf, historyQueries, type ExperimentNode, type Tone } from "./experiments";
import { ServerCommand, type HistoryTable, type HypothesisInfo, type QueuedRun, type SearchTree } from "./protocol";
import { runProcess } from "./python";
import { activeCount, buildQueueNode, queueIsActive, type QueueTone } from "./queue";
import { buildSearchNode, decorateSearchItem } from "./searchTree";
import type { ServerManager } from "./server";
import { vscode, workspaceFolder } from "./vscodeApi";

export const COMMIT_SCHEME = "mlr-commit";

const TONE_ICON: Record<Tone, [string, string | undefined]> = {
  good: ["pass", "testing.iconPassed"],
  bad: ["error", "testing.iconFailed"],
  running: ["sync~spin", undefined],
  neutral: ["circle-outline", undefined],
};

const QUEUE_ICON: Record<QueueTone, [string, string | undefined]> = {
  ...TONE_ICON,
  waiting: ["clock", undefined],
};
// while a run waits or runs, the view asks for the queue this often
const QUEUE_POLL_MS = 3_000;

const HYPOTHESIS_ICON: Record<string, string> = {
  proposed: "lightbulb",
  accepted: "check",
  rejected: "close",
};

function icon(id: string, color?: string): vscode.ThemeIcon {
  return new vscode.ThemeIcon(id, color ? new vscode.ThemeColor(color) : undefined);
}

function openLog(logPath: string | null): vscode.Command | undefined {
  return logPath ? { command: "mlrCopilot.client.openRunLog", title: "Open run log", arguments: [logPath] } : undefined;
}

export function toTreeItem(node: ExperimentNode): vscode.TreeItem {
  const expandable = childrenOf(node).length > 0;
  const item = new vscode.TreeItem(
    node.label,
    expandable ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
  );
  switch (node.kind) {
    case "queue":
      // an id per state: VS Code keeps an id's folding, and the state decides it
      item.id = node.active ? "queue:active" : "queue:idle";
      item.collapsibleState = node.active
        ? vscode.TreeItemCollapsibleState.Expanded
        : vscode.TreeItemCollapsibleState.Collapsed;
      item.description = node.description;
      item.iconPath = icon("list-ordered");
      break;
    case "queued": {
      item.id = `queued:${node.runId}`;
      item.description = node.description;
      const [name, color] = QUEUE_ICON[node.tone];
      item.iconPath = icon(name, color);
      // package.json offers Cancel on the items whose value ends in ".cancellable"
      item.contextValue = `queued.${node.state}${node.cancellable ? ".cancellable" : ""}`;
      item.tooltip = node.tooltip;
      break;
    }
    case "baseline":
      item.description = node.description;
      item.iconPath = icon("target");
      item.contextValue = "baseline";
      item.tooltip = node.tooltip;
      item.command = openLog(node.logPath);
      break;
    case "hypothesis":
      item.id = `hypothesis:${node.id}`;
      item.description = node.description;
      item.iconPath = icon(HYPOTHESIS_ICON[node.status] ?? "lightbulb");
      item.contextValue = `hypothesis.${node.status}`;
      item.tooltip = `${node.label}\n${node.id} (${node.status})`;
      break;
    case "group":
      item.iconPath = icon("git-branch");
      break;
    case "commit":
      item.id = `commit:${node.sha}`;
      item.description = node.description;
      item.iconPath = icon("git-commit");
      item.contextValue = "commit";
      item.tooltip = `${node.label}\n${node.sha}`;
      if (node.sha) {
        item.command = { command: "mlrCopilot.client.openCommit", title: "Open commit diff", arguments: [node.sha] };
      }
      break;
    case "search":
    case "searchBaseline":
    case "searchNode":
      decorateSearchItem(item, node);
      break;
    case "run": {
      item.id = `run:${node.runId}`;
      item.description = node.description;
      const [name, color] = TONE_ICON[node.tone];
      item.iconPath = icon(name, color);
      item.contextValue = "run";
      item.tooltip = node.tooltip;
      item.command = openLog(node.logPath);
      break;
    }
  }
  if (item.id && !expandable) {
    // VS Code keeps an item's expansion state by id, and an item first shown without
    // children stays collapsed once it gains some: a leaf gets an id of its own, so a
    // hypothesis or commit that gains commits or runs arrives expanded.
    item.id += "#leaf";
  }
  return item;
}

export class ExperimentsProvider implements vscode.TreeDataProvider<ExperimentNode> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private nodes: ExperimentNode[] = [];
  private refreshing: Promise<void> | undefined;
  private loaded: { hypotheses: HypothesisInfo[]; tables: HistoryTable[]; queue: QueuedRun[]; search?: SearchTree | null } = {
    hypotheses: [],
    tables: [],
    queue: [],
  };
  private queuePoll: NodeJS.Timeout | undefined;
  // Run labels say "2m ago": redrawn each minute from what was loaded, which `show` skips
  // when no label changed (a run over an hour old changes once an hour).
  private readonly ticker = setInterval(() => this.render(), 60_000);

  constructor(private readonly server: ServerManager) {}

  getTreeItem(node: ExperimentNode): vscode.TreeItem {
    return toTreeItem(node);
  }

  getChildren(node?: ExperimentNode): ExperimentNode[] {
    return node ? childrenOf(node) : this.nodes;
  }

  get hasContent(): boolean {
    return this.nodes.length > 0;
  }

  /** Ask the server again; concurrent calls share one round trip. */
  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    if (this.server.state !== "running") {
      this.loaded = { hypotheses: [], tables: [], queue: [] };
      this.render();
      return;
    }
    try {
      const hypotheses = (await this.server.executeCommand<HypothesisInfo[]>(ServerCommand.listHypotheses)) ?? [];
      const tables: HistoryTable[] = [];
      for (const query of historyQueries(hypotheses)) {
        try {
          const table = await this.server.executeCommand<HistoryTable>(ServerCommand.history, query ? [query] : []);
          if (table) {
            tables.push(table);
          }
        } catch (error) {
          // A hypothesis branch that is not created yet has no history; the others still show.
          this.server.log(`history ${query ? query.branch : "(current branch)"}: ${(error as Error).message}`);
        }
      }
      this.loaded = { hypotheses, tables, queue: await this.loadQueue(), search: await this.loadSearch() };
    } catch (error) {
      this.server.log(`Experiments view: ${(error as Error).message}`);
      this.loaded = { hypotheses: [], tables: [], queue: [] };
    }
    this.render();
    this.pollQueue();
  }

  /** The queue, or none when the server cannot say (an older server): the rest still shows. */
  private async loadQueue(): Promise<QueuedRun[]> {
    try {
      return (await this.server.executeCommand<QueuedRun[]>(ServerCommand.queue)) ?? [];
    } catch (error) {
      this.server.log(`queue: ${(error as Error).message}`);
      return [];
    }
  }

  /** The search alone, as the server tells of each change to its journal while it runs. */
  async refreshSearch(): Promise<void> {
    if (this.server.state !== "running") {
      return;
    }
    this.loaded = { ...this.loaded, search: await this.loadSearch() };
    this.render();
  }

  /** The latest search, or none when the server cannot say: the rest still shows. */
  private async loadSearch(): Promise<SearchTree | null> {
    try {
      return (await this.server.executeCommand<SearchTree | null>(ServerCommand.searchTree)) ?? null;
    } catch (error) {
      this.server.log(`search tree: ${(error as Error).message}`);
      return null;
    }
  }

  /** While runs wait or run, ask for the queue again soon, so their state and elapsed time
   * stay current; once one has ended, for everything (its run joins the history). */
  private pollQueue(): void {
    clearTimeout(this.queuePoll);
    if (queueIsActive(this.loaded.queue)) {
      this.queuePoll = setTimeout(() => void this.refreshQueue(), QUEUE_POLL_MS);
    }
  }

  private async refreshQueue(): Promise<void> {
    const before = activeCount(this.loaded.queue);
    const queue = await this.loadQueue();
    if (activeCount(queue) < before) {
      return this.refresh();
    }
    this.loaded = { ...this.loaded, queue };
    this.render();
    this.pollQueue();
  }

  private render(): void {
    const queue = buildQueueNode(this.loaded.queue);
    const search = buildSearchNode(this.loaded.search);
    this.show([...(queue ? [queue] : []), ...(search ? [search] : []), ...buildExperimentTree(this.loaded.hypotheses, this.loaded.tables)]);
  }

  /** Redraw only on a change: a redraw under the pointer loses the click being made. */
  private show(nodes: ExperimentNode[]): void {
    if (JSON.stringify(nodes) === JSON.stringify(this.nodes)) {
      return;
    }
    this.nodes = nodes;
    this.changed.fire();
  }

  dispose(): void {
    clearInterval(this.ticker);
    clearTimeout(this.queuePoll);
    this.changed.dispose();
  }
}

/** `git show` of a commit as a read-only diff document. */
export class CommitContentProvider implements vscode.TextDocumentContentProvider {
  static uriFor(sha: string): vscode.Uri {
    return vscode.Uri.from({ scheme: COMMIT_SCHEME, path: `/${sha.slice(0, 12)}.diff`, query: sha });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const folder = workspaceFolder();
    if (!folder) {
      return "No workspace folder is open.";
    }
    const result = await runProcess("git", ["show", "--stat", "--patch", "--notes=mlr", uri.query], { cwd: folder.uri.fsPath });
    if (result.code !== 0) {
      return `git show ${uri.query} failed in ${folder.uri.fsPath}:\n${result.spawnError ?? result.stderr}`;
    }
    return result.stdout;
  }
}

export function resolveLogPath(logPath: string): vscode.Uri {
  const folder = workspaceFolder();
  const absolute = path.isAbsolute(logPath) || !folder ? logPath : path.join(folder.uri.fsPath, logPath);
  return vscode.Uri.file(absolute);
}
