// The client's own handling of the server's workspace/applyEdit. VS Code applies a reviewed
// change to editor buffers and, for a single file, leaves it unsaved, while the server writes
// the same content to disk and commits it. The touched documents are saved right after the
// edit is applied, so no buffer is left dirty over a file the server has just committed.
import type {
  ApplyWorkspaceEditParams,
  ApplyWorkspaceEditResult,
  WorkspaceEdit,
} from "vscode-languageserver-protocol";
import { vscode } from "./vscodeApi";

/** The URIs of the documents an edit writes to (text edits and created or renamed files). */
export function editedUris(edit: WorkspaceEdit): string[] {
  const uris = new Set<string>(Object.keys(edit.changes ?? {}));
  for (const change of edit.documentChanges ?? []) {
    if ("textDocument" in change) {
      uris.add(change.textDocument.uri);
    } else if (change.kind === "create") {
      uris.add(change.uri);
    } else if (change.kind === "rename") {
      uris.add(change.newUri);
    }
  }
  return [...uris];
}

/**
 * The first document whose open version differs from the version the edit was made for,
 * or undefined. `versionOf` gives the open document's version (undefined when not open).
 */
export function staleDocument(edit: WorkspaceEdit, versionOf: (uri: string) => number | undefined): string | undefined {
  for (const change of edit.documentChanges ?? []) {
    if (!("textDocument" in change)) {
      continue;
    }
    const wanted = change.textDocument.version;
    const open = versionOf(change.textDocument.uri);
    if (typeof wanted === "number" && wanted >= 0 && open !== undefined && open !== wanted) {
      return change.textDocument.uri;
    }
  }
  return undefined;
}

export const NOT_APPLIED =
  "not applied in the editor: the preview was discarded, or no change was ticked before Apply";

/** Handles workspace/applyEdit: one edit at a time, applied as a refactoring, then saved. */
export class EditApplier {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly toCode: (edit: WorkspaceEdit) => Promise<vscode.WorkspaceEdit>,
    private readonly toUri: (uri: string) => vscode.Uri,
    private readonly log: (line: string) => void,
  ) {}

  handle(params: ApplyWorkspaceEditParams): Promise<ApplyWorkspaceEditResult> {
    const next = this.queue.then(
      () => this.apply(params),
      () => this.apply(params),
    );
    this.queue = next;
    return next;
  }

  private openDocument(uri: string): vscode.TextDocument | undefined {
    const key = this.toUri(uri).toString();
    return vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
  }

  private async apply(params: ApplyWorkspaceEditParams): Promise<ApplyWorkspaceEditResult> {
    const stale = staleDocument(params.edit, (uri) => this.openDocument(uri)?.version);
    if (stale) {
      const name = this.toUri(stale).path.split("/").pop();
      return { applied: false, failureReason: `${name} changed in the editor since the change was proposed` };
    }
    const converted = await this.toCode(params.edit);
    const applied = await vscode.workspace.applyEdit(converted, { isRefactoring: true });
    if (!applied) {
      this.log(`Edit '${params.label ?? "change"}' ${NOT_APPLIED}.`);
      // the agent reads the reason before it proposes again, so a rejection can steer it
      const reason = await vscode.window.showInputBox({
        title: "MLR-Copilot: change rejected",
        prompt: "Why? The agent takes this into account when it proposes again (optional; Escape skips).",
        placeHolder: "e.g. keep the optimizer, only change the model",
      });
      return { applied: false, failureReason: reason?.trim() || NOT_APPLIED };
    }
    for (const uri of editedUris(params.edit)) {
      const document = this.openDocument(uri);
      if (document?.isDirty && !(await document.save())) {
        this.log(`Applied '${params.label ?? "change"}' but could not save ${document.uri.fsPath}.`);
      }
    }
    return { applied: true };
  }
}
