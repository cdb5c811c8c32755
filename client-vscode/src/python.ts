// Which Python runs the server: the `mlrCopilot.interpreter` setting, else the Python
// extension's active environment, else `python3` (then `python`) on PATH.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export type InterpreterSource = "setting" | "python-extension" | "path";

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

export interface InterpreterSources {
  /** The `mlrCopilot.interpreter` setting, already expanded; empty when unset. */
  setting(): string | undefined;
  /** The Python extension's active environment, or undefined without the extension. */
  pythonExtension(): Promise<string | undefined>;
  /** An executable of this name on PATH, or undefined. */
  onPath(name: string): string | undefined;
}

export class NoInterpreterError extends Error {
  constructor() {
    super(
      "No Python interpreter found: set 'mlrCopilot.interpreter' to a Python 3.10+ executable, " +
        "select one with the Python extension, or put python3 on PATH.",
    );
  }
}

export async function findInterpreter(sources: InterpreterSources): Promise<Interpreter> {
  const configured = sources.setting()?.trim();
  if (configured) {
    return { path: configured, source: "setting" };
  }
  const active = await sources.pythonExtension().catch(() => undefined);
  if (active) {
    return { path: active, source: "python-extension" };
  }
  for (const name of ["python3", "python"]) {
    const found = sources.onPath(name);
    if (found) {
      return { path: found, source: "path" };
    }
  }
  throw new NoInterpreterError();
}

/** `${workspaceFolder}`, `${userHome}` and a leading `~` in the setting. */
export function expandSetting(value: string, workspaceFolder: string | undefined, home: string): string {
  let out = value.trim();
  if (out.startsWith("~/") || out === "~") {
    out = path.join(home, out.slice(1));
  }
  out = out.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder) {
    out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  return out;
}

export function whichSync(name: string, envPath = process.env.PATH ?? ""): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) {
        return candidate;
      }
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the executable could not be started at all (missing, not executable). */
  spawnError?: string;
}

export function runProcess(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & { code?: number | string }) | null;
        if (err && typeof err.code === "string") {
          resolve({ code: null, stdout: String(stdout), stderr: String(stderr), spawnError: `${err.code}: ${err.message}` });
          return;
        }
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export type ServerCheck =
  | { ok: true; version: string }
  | { ok: false; reason: "not-runnable"; detail: string }
  | { ok: false; reason: "not-installed"; detail: string };

/** Whether `mlr_copilot` imports in this interpreter, and its version. */
export async function checkServerModule(python: string, env?: NodeJS.ProcessEnv): Promise<ServerCheck> {
  const result = await runProcess(python, ["-c", "import mlr_copilot, sys; sys.stdout.write(mlr_copilot.__version__)"], {
    env,
    timeoutMs: 30_000,
  });
  if (result.spawnError) {
    return { ok: false, reason: "not-runnable", detail: result.spawnError };
  }
  if (result.code !== 0) {
    const lastLine = result.stderr.trim().split("\n").pop() ?? "";
    if (/ModuleNotFoundError|No module named/.test(result.stderr)) {
      return { ok: false, reason: "not-installed", detail: lastLine };
    }
    return { ok: false, reason: "not-runnable", detail: lastLine || `exit code ${result.code}` };
  }
  return { ok: true, version: result.stdout.trim() };
}

/** pip arguments that install the server: from PyPI, or from a local checkout or wheel. */
export function pipInstallArgs(source: { kind: "pypi" } | { kind: "path"; path: string }): string[] {
  const target = source.kind === "pypi" ? "mlr-copilot" : source.path;
  return ["-m", "pip", "install", "--upgrade", target];
}
