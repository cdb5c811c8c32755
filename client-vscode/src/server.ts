// Starts, watches and restarts the MLR-Copilot language server.
import { spawn, type ChildProcess } from "node:child_process";
import * as os from "node:os";
import {
  ApplyWorkspaceEditRequest,
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  type LanguageClientOptions,
} from "vscode-languageclient/node";
import { EditApplier } from "./edits";
import { SEARCH_CHANGED, ServerCommand, type ServerStatus } from "./protocol";
import {
  NoInterpreterError,
  checkServerModule,
  expandSetting,
  findInterpreter,
  pipInstallArgs,
  runProcess,
  whichSync,
  type Interpreter,
} from "./python";
import { RestartPolicy, crashMessage } from "./restart";
import type { ApiKeys } from "./secrets";
import { serverSettings, settingsSummary } from "./settings";
import {
  getSetting,
  openSettings,
  pythonExtensionInterpreter,
  showError,
  showInfo,
  showWarning,
  vscode,
  workspaceFolder,
} from "./vscodeApi";

export type ServerState = "stopped" | "starting" | "running" | "failed";

const SHOW_LOG = "Show Log";
const OPEN_SETTINGS = "Open Settings";
const RESTART = "Restart";

/** One server process and its client; a restart makes a new session. */
interface Session {
  client: LanguageClient;
  child?: ChildProcess;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  stderrTail: string[];
  crashHandled: boolean;
  stopping: boolean;
}

export class NotRunningError extends Error {}

/**
 * The client library forces a pop-up of its own when the connection cannot be made; the
 * extension reports that itself, once, with the reason and what to do, so the library's
 * messages go to the output channel only.
 */
class QuietLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown, showNotification: boolean | "force" = true): void {
    super.error(message, data, showNotification === "force" ? false : showNotification);
  }
}

export class ServerManager implements vscode.Disposable {
  private session: Session | undefined;
  private readonly policy = new RestartPolicy();
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly searchEmitter = new vscode.EventEmitter<void>();
  /** A search the server runs wrote its journal (`mlrCopilot/searchChanged`). */
  readonly onDidChangeSearch = this.searchEmitter.event;
  private _state: ServerState = "stopped";
  private _interpreter: Interpreter | undefined;
  private _lastError: string | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly output: vscode.OutputChannel,
    private readonly keys: ApiKeys,
    private readonly onServerCommandDone: () => void,
  ) {}

  get state(): ServerState {
    return this._state;
  }

  get interpreter(): Interpreter | undefined {
    return this._interpreter;
  }

  get lastError(): string | undefined {
    return this._lastError;
  }

  private setState(state: ServerState, error?: string): void {
    this._state = state;
    this._lastError = error;
    this.stateEmitter.fire(state);
  }

  /** Start/stop/restart run one at a time, in the order asked. */
  private serialize(work: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(work, work);
    return this.queue;
  }

  start(): Promise<void> {
    return this.serialize(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  restart(reason: string, userAsked = false): Promise<void> {
    return this.serialize(async () => {
      this.log(`Restarting the server: ${reason}`);
      if (userAsked) {
        this.policy.reset();
      }
      await this.doStop();
      await this.doStart();
    });
  }

  async executeCommand<T>(command: string, args: unknown[] = [], token?: vscode.CancellationToken): Promise<T> {
    const client = this.session?.client;
    if (!client || this._state !== "running") {
      throw new NotRunningError(
        `The MLR-Copilot server is not running (${this._lastError ?? this._state}). ` +
          "Run 'MLR-Copilot: Restart server' or see the log.",
      );
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token) as Promise<T>;
  }

  async status(): Promise<ServerStatus | undefined> {
    if (this._state !== "running") {
      return undefined;
    }
    return this.executeCommand<ServerStatus>(ServerCommand.status);
  }

  log(line: string): void {
    this.output.appendLine(`[client ${new Date().toISOString().slice(11, 19)}] ${line}`);
  }

  private async doStart(): Promise<void> {
    if (this.session) {
      return;
    }
    this.setState("starting");
    const folder = workspaceFolder();
    if (!folder) {
      this.fail("no folder is open", "MLR-Copilot needs a workspace folder: open the folder of your experiment (File > Open Folder).");
      return;
    }
    const interpreter = await this.resolveInterpreter(folder);
    if (!interpreter) {
      return;
    }
    const env: NodeJS.ProcessEnv = { ...process.env, ...(await this.keys.environment()), PYTHONUNBUFFERED: "1" };
    if (!(await this.ensureServerModule(interpreter, env))) {
      return;
    }
    const settings = serverSettings((key) => getSetting(`mlrCopilot.${key}`, folder.uri));
    this.log(`Starting the server with ${interpreter.path} (from ${interpreter.source}); ${settingsSummary(settings)}`);

    const session: Session = {
      client: undefined as unknown as LanguageClient,
      stderrTail: [],
      crashHandled: false,
      stopping: false,
    };
    const serverOptions = async (): Promise<ChildProcess> => {
      const child = spawn(interpreter.path, ["-m", "mlr_copilot.cli", "serve"], { cwd: folder.uri.fsPath, env });
      session.child = child;
      child.stderr?.on("data", (data: Buffer) => {
        const lines = data.toString("utf8").split("\n").filter((l) => l.trim());
        session.stderrTail = [...session.stderrTail, ...lines].slice(-20);
      });
      child.on("exit", (code, signal) => {
        session.exit = { code, signal };
      });
      return child;
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }],
      outputChannel: this.output,
      revealOutputChannelOn: 4 /* RevealOutputChannelOn.Never */,
      // The Refine lens calls back into the client, which asks for the feedback text.
      initializationOptions: { settings, refineCommand: "mlrCopilot.client.refineHypothesis" },
      synchronize: { configurationSection: "mlrCopilot" },
      workspaceFolder: folder,
      // a failed start is reported once by onCrash, with the reason and what to do
      initializationFailedHandler: (error) => {
        this.log(`The server failed to initialize: ${(error as Error)?.message ?? error}`);
        return false;
      },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => {
          if (!session.stopping) {
            void this.onCrash(session);
          }
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
      middleware: {
        workspace: {
          // The server gets exactly the mapped settings, never client-only keys.
          configuration: async (params, token, next) => {
            const defaults = await next(params, token);
            if (!Array.isArray(defaults)) {
              return defaults;
            }
            return params.items.map((item, i) =>
              item.section === "mlrCopilot"
                ? serverSettings((key) => getSetting(`mlrCopilot.${key}`, folder.uri))
                : defaults[i],
            );
          },
        },
        executeCommand: async (command, args, next) => {
          try {
            return await next(command, args);
          } catch (error) {
            void this.reportCommandError(command, error);
            return undefined;
          } finally {
            this.onServerCommandDone();
          }
        },
      },
    };
    const client = new QuietLanguageClient("mlrCopilot", "MLR-Copilot", serverOptions, clientOptions);
    const applier = new EditApplier(
      (edit) => client.protocol2CodeConverter.asWorkspaceEdit(edit),
      (uri) => client.protocol2CodeConverter.asUri(uri),
      (line) => this.log(line),
    );
    // registered before start, so it replaces the client's default handler
    client.onRequest(ApplyWorkspaceEditRequest.type, (params) => applier.handle(params));
    client.onNotification(SEARCH_CHANGED, () => this.searchEmitter.fire());
    session.client = client;
    this.session = session;
    try {
      await session.client.start();
    } catch (error) {
      if (!session.stopping && this.session === session) {
        await this.onCrash(session, String((error as Error)?.message ?? error));
      }
      return;
    }
    if (this.session === session && session.client.state === State.Running) {
      this.setState("running");
      this.log("Server running.");
    }
  }

  private async doStop(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (!session) {
      if (this._state !== "failed") {
        this.setState("stopped");
      }
      return;
    }
    session.stopping = true;
    try {
      if (session.client.state === State.Running) {
        await session.client.stop(3000);
      }
    } catch (error) {
      this.log(`Stopping the server: ${(error as Error)?.message ?? error}`);
    }
    await session.client.dispose().catch(() => undefined);
    if (session.child && session.child.exitCode === null && session.child.signalCode === null) {
      session.child.kill("SIGTERM");
    }
    this.setState("stopped");
  }

  private describeExit(session: Session, fallback?: string): string {
    const exit = session.exit;
    const how = exit ? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`) : fallback ?? "connection closed";
    const last = session.stderrTail.at(-1);
    return last ? `${how}: ${last}` : how;
  }

  private async onCrash(session: Session, startError?: string): Promise<void> {
    if (session.crashHandled) {
      return;
    }
    session.crashHandled = true;
    // The exit event may trail the closed stream by a moment; wait briefly for the code.
    for (let i = 0; i < 20 && !session.exit && session.child; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const reason = this.describeExit(session, startError);
    const decision = this.policy.onCrash();
    const message = crashMessage(reason, decision, this.policy.windowMs);
    this.log(message);
    if (this.session === session) {
      this.session = undefined;
      session.stopping = true;
      await session.client.dispose().catch(() => undefined);
    }
    if (decision.restart) {
      this.setState("starting", message);
      void showWarning(message, SHOW_LOG).then((pick) => pick === SHOW_LOG && this.output.show(true));
      setTimeout(() => void this.start(), 1000);
    } else {
      this.setState("failed", message);
      void showError(message, SHOW_LOG, RESTART).then((pick) => {
        if (pick === SHOW_LOG) {
          this.output.show(true);
        } else if (pick === RESTART) {
          void this.restart("asked by the user", true);
        }
      });
    }
  }

  private fail(short: string, message: string, ...actions: string[]): void {
    this.log(message);
    this.setState("failed", short);
    void showError(message, ...actions, SHOW_LOG).then((pick) => {
      if (pick === SHOW_LOG) {
        this.output.show(true);
      } else if (pick === OPEN_SETTINGS) {
        void openSettings("mlrCopilot.interpreter");
      }
    });
  }

  private async resolveInterpreter(folder: vscode.WorkspaceFolder): Promise<Interpreter | undefined> {
    try {
      this._interpreter = await findInterpreter({
        setting: () => {
          const raw = getSetting<string>("mlrCopilot.interpreter", folder.uri);
          return raw ? expandSetting(raw, folder.uri.fsPath, os.homedir()) : undefined;
        },
        pythonExtension: () => pythonExtensionInterpreter(folder.uri),
        onPath: (name) => whichSync(name),
      });
      return this._interpreter;
    } catch (error) {
      if (error instanceof NoInterpreterError) {
        this.fail("no Python found", error.message, OPEN_SETTINGS);
        return undefined;
      }
      throw error;
    }
  }

  /** True when `mlr_copilot` imports, possibly after installing it with the user's consent. */
  private async ensureServerModule(interpreter: Interpreter, env: NodeJS.ProcessEnv): Promise<boolean> {
    const check = await checkServerModule(interpreter.path, env);
    if (check.ok) {
      this.log(`mlr_copilot ${check.version} found in ${interpreter.path}`);
      return true;
    }
    if (check.reason === "not-runnable") {
      this.fail(
        "Python cannot be started",
        `The Python interpreter '${interpreter.path}' (from ${interpreter.source}) cannot be started (${check.detail}). ` +
          "Set 'mlrCopilot.interpreter' to a working Python 3.10+ executable.",
        OPEN_SETTINGS,
      );
      return false;
    }
    this.log(`mlr_copilot is not importable in ${interpreter.path}: ${check.detail}`);
    this.setState("failed", "server not installed");
    const FROM_PYPI = "Install from PyPI";
    const FROM_FOLDER = "Install from Folder...";
    const pick = await showWarning(
      `The MLR-Copilot server (Python package 'mlr-copilot') is not installed in '${interpreter.path}'. ` +
        "Install it there, or choose another interpreter in 'mlrCopilot.interpreter'.",
      FROM_PYPI,
      FROM_FOLDER,
      OPEN_SETTINGS,
    );
    let source: Parameters<typeof pipInstallArgs>[0] | undefined;
    if (pick === FROM_PYPI) {
      source = { kind: "pypi" };
    } else if (pick === FROM_FOLDER) {
      const chosen = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: true,
        canSelectMany: false,
        openLabel: "Install",
        title: "MLR-Copilot source folder (with pyproject.toml) or wheel",
        filters: { "Folder or wheel": ["whl"] },
      });
      if (chosen?.[0]) {
        source = { kind: "path", path: chosen[0].fsPath };
      }
    } else if (pick === OPEN_SETTINGS) {
      void openSettings("mlrCopilot.interpreter");
    }
    if (!source) {
      this.log("Server not installed; nothing started.");
      return false;
    }
    const args = pipInstallArgs(source);
    this.log(`Running ${interpreter.path} ${args.join(" ")}`);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "Installing the MLR-Copilot server..." },
      () => runProcess(interpreter.path, args, { env, timeoutMs: 15 * 60_000 }),
    );
    this.output.append(result.stdout + result.stderr);
    const after = await checkServerModule(interpreter.path, env);
    if (!after.ok) {
      this.fail(
        "install failed",
        `Installing 'mlr-copilot' into '${interpreter.path}' failed (${result.spawnError ?? `pip exit code ${result.code}`}). ` +
          "See the log for pip's output.",
      );
      return false;
    }
    void showInfo(`MLR-Copilot server ${after.version} installed.`);
    return true;
  }

  async reportCommandError(command: string, error: unknown): Promise<void> {
    const message = (error as Error)?.message ?? String(error);
    this.log(`${command} failed: ${message}`);
    const pick = await showError(`MLR-Copilot: ${message}`, SHOW_LOG);
    if (pick === SHOW_LOG) {
      this.output.show(true);
    }
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.stateEmitter.dispose();
    this.searchEmitter.dispose();
  }
}
