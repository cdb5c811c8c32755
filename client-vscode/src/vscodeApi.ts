// The one module that touches the `vscode` API at run time, so the rest of the
// extension's logic can be unit-tested with this module's surface stubbed.
import * as vscode from "vscode";

export { vscode };

export function getSetting<T>(key: string, scope?: vscode.Uri): T | undefined {
  const dot = key.indexOf(".");
  return vscode.workspace.getConfiguration(key.slice(0, dot), scope).get<T>(key.slice(dot + 1));
}

export function workspaceFolder(): vscode.WorkspaceFolder | undefined {
  return vscode.workspace.workspaceFolders?.[0];
}

export async function pythonExtensionInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension("ms-python.python");
  if (!ext) {
    return undefined;
  }
  const api = ext.isActive ? ext.exports : await ext.activate();
  const envPath = api?.environments?.getActiveEnvironmentPath?.(resource);
  if (!envPath?.path) {
    return undefined;
  }
  const resolved = await api.environments.resolveEnvironment?.(envPath).catch(() => undefined);
  return resolved?.executable?.uri?.fsPath ?? envPath.path;
}

/** Fires when the Python extension's active environment changes (no-op without it). */
export function onPythonEnvironmentChange(listener: () => void): vscode.Disposable {
  const ext = vscode.extensions.getExtension("ms-python.python");
  if (!ext) {
    return new vscode.Disposable(() => undefined);
  }
  let inner: vscode.Disposable | undefined;
  const ready = Promise.resolve(ext.isActive ? ext.exports : ext.activate());
  ready
    .then((api) => {
      inner = api?.environments?.onDidChangeActiveEnvironmentPath?.(listener);
    })
    .catch(() => undefined);
  return new vscode.Disposable(() => inner?.dispose());
}

export async function showError(message: string, ...actions: string[]): Promise<string | undefined> {
  return vscode.window.showErrorMessage(message, ...actions);
}

export async function showWarning(message: string, ...actions: string[]): Promise<string | undefined> {
  return vscode.window.showWarningMessage(message, ...actions);
}

export async function showInfo(message: string, ...actions: string[]): Promise<string | undefined> {
  return vscode.window.showInformationMessage(message, ...actions);
}

export function openSettings(query: string): Thenable<unknown> {
  return vscode.commands.executeCommand("workbench.action.openSettings", query);
}
