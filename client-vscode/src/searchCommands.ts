// The tree search's commands: start or resume a search from the palette, and on a node of the
// view's search tree improve (with an optional instruction), debug, prune, promote to a branch,
// or compare with its parent (metrics in a message, the code in VS Code's diff editor).
import * as path from "node:path";
import { ServerCommand, type NodeAction, type NodeComparison, type SearchAction, type SearchTree } from "./protocol";
import { runProcess } from "./python";
import { formatValue } from "./runText";
import { percent, type SearchStepNode } from "./searchTree";
import { showInfo, vscode, workspaceFolder } from "./vscodeApi";

export const REVISION_SCHEME = "mlr-rev";

type Call = <T>(command: string, args?: unknown[]) => Promise<T | undefined>;
type Register = (id: string, handler: (...args: unknown[]) => unknown) => void;

/** A node of the view's search tree, as the context menu passes it. */
export function searchNodeArg(arg: unknown): SearchStepNode | undefined {
  const node = arg as Partial<SearchStepNode> | undefined;
  return node?.kind === "searchNode" && typeof node.nodeId === "string" && typeof node.session === "string"
    ? (node as SearchStepNode)
    : undefined;
}

export function registerSearchCommands(register: Register, call: Call): void {
  const search = async (resume: boolean) => {
    const tree = await call<SearchTree>(ServerCommand.search, [{ resume }]);
    if (tree) {
      const best = tree.nodes.find((n) => n.id === tree.best);
      void showInfo(
        `MLR-Copilot: search ${tree.session} ${tree.status}${tree.message ? ` (${tree.message})` : ""}: ` +
          `${tree.nodes.length} nodes` +
          (best && typeof best.value === "number" ? `, best ${best.id} ${tree.metric} ${formatValue(best.value)} (${percent(best.delta)})` : "") +
          ".",
      );
    }
  };
  register("startSearch", () => search(false));
  register("resumeSearch", () => search(true));

  const act = async (arg: unknown, action: SearchAction, instruction = "") => {
    const node = searchNodeArg(arg);
    if (!node) {
      return;
    }
    const result = await call<NodeAction>(ServerCommand.searchAct, [node.nodeId, action, { instruction, session: node.session }]);
    if (result) {
      void showInfo(`MLR-Copilot: ${result.message}`);
    }
  };
  register("improveSearchNode", async (arg: unknown) => {
    const node = searchNodeArg(arg);
    if (!node) {
      return;
    }
    const instruction = await vscode.window.showInputBox({
      prompt: `What should the improvement of ${node.nodeId} try? (optional: empty lets the model choose)`,
      placeHolder: "e.g. add a learning-rate warmup",
    });
    if (instruction !== undefined) {
      await act(node, "improve", instruction.trim());
    }
  });
  register("debugSearchNode", (arg: unknown) => act(arg, "debug"));
  register("pruneSearchNode", (arg: unknown) => act(arg, "prune"));
  register("promoteSearchNode", (arg: unknown) => act(arg, "promote"));

  register("compareSearchNode", async (arg: unknown) => {
    const node = searchNodeArg(arg);
    if (!node) {
      return;
    }
    const comparison = await call<NodeComparison>(ServerCommand.searchCompare, [node.nodeId, node.session]);
    if (comparison) {
      await showComparison(comparison);
    }
  });
}

export function comparisonText(c: NodeComparison): string {
  const value = (v: number | null) => (typeof v === "number" ? formatValue(v) : "none");
  const change = percent(c.delta);
  return (
    `${c.node} against ${c.parent ?? "the baseline"}: ${c.metric} ${value(c.parent_value)} → ${value(c.value)}` +
    `${change ? ` (${change})` : ""}${c.notes.length ? `. ${c.notes.join("; ")}` : ""}`
  );
}

/** The metric's change in a message; each changed file (one picked when several) in the diff editor. */
async function showComparison(c: NodeComparison): Promise<void> {
  const folder = workspaceFolder();
  void showInfo(`MLR-Copilot: ${comparisonText(c)}`);
  if (!folder || c.commit === c.parent_commit) {
    return;
  }
  const listed = await runProcess("git", ["diff", "--name-only", "-z", "--no-renames", c.parent_commit, c.commit, "--"], {
    cwd: folder.uri.fsPath,
  });
  // secrets files are named by the server, never opened
  const files = listed.code === 0 ? listed.stdout.split("\0").filter((f) => f && !c.secret_files.includes(f)) : [];
  const file = files.length > 1 ? await vscode.window.showQuickPick(files, { placeHolder: `${files.length} files changed: which to compare?` }) : files[0];
  if (!file) {
    return;
  }
  await vscode.commands.executeCommand(
    "vscode.diff",
    RevisionContentProvider.uriFor(c.parent_commit, file),
    RevisionContentProvider.uriFor(c.commit, file),
    `${path.basename(file)} (${c.parent ?? "baseline"} ↔ ${c.node})`,
  );
}

/** A file as it is at a commit (`git show`), empty where the commit does not have it. */
export class RevisionContentProvider implements vscode.TextDocumentContentProvider {
  static uriFor(sha: string, file: string): vscode.Uri {
    return vscode.Uri.from({ scheme: REVISION_SCHEME, path: `/${file}`, query: sha });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const folder = workspaceFolder();
    if (!folder) {
      return "";
    }
    const result = await runProcess("git", ["show", `${uri.query}:${uri.path.slice(1)}`], { cwd: folder.uri.fsPath });
    return result.code === 0 ? result.stdout : "";
  }
}
