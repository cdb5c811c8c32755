// Drives a real VS Code (code-server) in headless Chromium for the end-to-end tests.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { chromium, type BrowserContext, type Locator, type Page } from "playwright-core";

export interface HarnessConfig {
  codeServer: string;
  /** Folder holding the node 24 binary code-server runs on; put first on its PATH. */
  nodeBin: string;
  vsix: string;
  artifacts: string;
  chromium: string;
}

export function configFromEnv(): HarnessConfig {
  const need = (name: string) => {
    const value = process.env[name];
    if (!value) {
      throw new Error(`${name} is not set: run the end-to-end tests through scripts/e2e-vscode.sh`);
    }
    return value;
  };
  return {
    codeServer: need("MLR_E2E_CODE_SERVER"),
    nodeBin: need("MLR_E2E_NODE_BIN"),
    vsix: need("MLR_E2E_VSIX"),
    artifacts: need("MLR_E2E_ARTIFACTS"),
    chromium: process.env.MLR_E2E_CHROMIUM ?? "/usr/bin/chromium",
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitForHttp(url: string, timeoutMs: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      throw new Error(`code-server exited with ${proc.exitCode}:\n${log()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, (res) => {
        res.resume();
        resolve((res.statusCode ?? 500) < 500);
      });
      req.on("error", () => resolve(false));
      req.setTimeout(2000, () => req.destroy());
    });
    if (ok) {
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer at ${url} within ${timeoutMs} ms:\n${log()}`);
}

/**
 * The user settings every end-to-end test starts from, `extra` added over them: a quiet
 * workbench (no trust prompt, start-up editor, chat side bar, tips, updates, telemetry, AI
 * features or experiments, none of which the tests look at and any of which can cover what
 * they click) and the server offline: scripted LLM replies, no online look-ups, the local runner.
 */
export function e2eSettings(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    "security.workspace.trust.enabled": false,
    "workbench.startupEditor": "none",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "workbench.tips.enabled": false,
    "extensions.autoUpdate": false,
    "extensions.autoCheckUpdates": false,
    "update.mode": "none",
    "telemetry.telemetryLevel": "off",
    "chat.disableAIFeatures": true,
    "workbench.enableExperiments": false,
    "mlrCopilot.llm.provider": "scripted",
    "mlrCopilot.ideas.online": false,
    "mlrCopilot.run.runner": "local",
    ...extra,
  };
}

/** One step of a suite as one test: a failure leaves a screenshot named after it (`FAILED-<prefix>-<step>`). */
export function stepper(vscode: VsCode, prefix: string): (name: string, fn: () => Promise<void>) => void {
  return (name, fn) =>
    test(name, async () => {
      try {
        await fn();
      } catch (error) {
        await vscode.shot(`FAILED-${prefix}-${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 50)}`).catch(() => undefined);
        throw error;
      }
    });
}

export class VsCode {
  page!: Page;
  private context!: BrowserContext;
  private proc!: ChildProcess;
  private serverLog = "";
  private shots = 0;
  readonly root: string;
  readonly userData: string;
  readonly extensions: string;
  private port = 0;

  constructor(private readonly config: HarnessConfig) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), "mlr-vscode-e2e-"));
    this.userData = path.join(this.root, "user-data");
    this.extensions = path.join(this.root, "extensions");
    fs.mkdirSync(path.join(this.userData, "User"), { recursive: true });
    fs.mkdirSync(this.extensions, { recursive: true });
    fs.mkdirSync(config.artifacts, { recursive: true });
  }

  private get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${this.config.nodeBin}${path.delimiter}${process.env.PATH}`,
      XDG_CONFIG_HOME: path.join(this.root, "config"),
      XDG_DATA_HOME: path.join(this.root, "data"),
    };
  }

  get settingsFile(): string {
    return path.join(this.userData, "User", "settings.json");
  }

  writeSettings(settings: Record<string, unknown>): void {
    fs.writeFileSync(this.settingsFile, JSON.stringify(settings, null, 2));
  }

  private mergedSettings(change: Record<string, unknown>): Record<string, unknown> {
    const current = fs.existsSync(this.settingsFile) ? JSON.parse(fs.readFileSync(this.settingsFile, "utf8")) : {};
    for (const [key, value] of Object.entries(change)) {
      if (value === undefined) {
        delete current[key];
      } else {
        current[key] = value;
      }
    }
    return current;
  }

  /** Edits the user settings the way a person does: in the settings.json editor, then save. */
  async updateSettings(change: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify(this.mergedSettings(change), null, 2);
    await this.command("Preferences: Open User Settings (JSON)");
    await this.page.locator(".tab.active", { hasText: "settings.json" }).waitFor({ timeout: 15_000 });
    // the editor reopens scrolled where it was left, so it is found by its group, not its text
    const editor = this.page.locator(".editor-group-container.active .monaco-editor").first();
    await editor.waitFor({ timeout: 15_000 });
    await editor.locator(".view-lines").click();
    await this.page.keyboard.press("ControlOrMeta+A");
    await this.page.keyboard.press("Delete");
    await this.page.keyboard.insertText(text);
    await this.page.keyboard.press("ControlOrMeta+S");
    const deadline = Date.now() + 10_000;
    // the file is read while VS Code may be writing it: a partial read counts as not saved yet
    const saved = () => {
      try {
        return JSON.stringify(JSON.parse(fs.readFileSync(this.settingsFile, "utf8")));
      } catch {
        return undefined;
      }
    };
    while (saved() !== JSON.stringify(JSON.parse(text))) {
      if (Date.now() > deadline) {
        throw new Error(`settings.json was not saved as typed:\n${fs.readFileSync(this.settingsFile, "utf8")}`);
      }
      await this.page.waitForTimeout(200);
    }
    await this.command("View: Close Editor");
  }

  installExtension(): string {
    return execFileSync(
      this.config.codeServer,
      ["--install-extension", this.config.vsix, "--extensions-dir", this.extensions, "--user-data-dir", this.userData],
      { env: this.env, encoding: "utf8", timeout: 120_000 },
    );
  }

  async start(folder: string): Promise<void> {
    this.port = await freePort();
    this.proc = spawn(
      this.config.codeServer,
      [
        "--bind-addr",
        `127.0.0.1:${this.port}`,
        "--auth",
        "none",
        "--user-data-dir",
        this.userData,
        "--extensions-dir",
        this.extensions,
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--config",
        path.join(this.root, "code-server.yaml"),
      ],
      { env: this.env, stdio: ["ignore", "pipe", "pipe"] },
    );
    const keep = (data: Buffer) => {
      this.serverLog = (this.serverLog + data.toString()).slice(-20_000);
    };
    this.proc.stdout?.on("data", keep);
    this.proc.stderr?.on("data", keep);
    await waitForHttp(`http://127.0.0.1:${this.port}/healthz`, 60_000, this.proc, () => this.serverLog);

    this.context = await chromium.launchPersistentContext(path.join(this.root, "chromium-profile"), {
      executablePath: this.config.chromium,
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    this.page = this.context.pages()[0] ?? (await this.context.newPage());
    await this.openFolder(folder);
  }

  async openFolder(folder: string): Promise<void> {
    await this.page.goto(`http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(folder)}`);
    await this.page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
    await this.page.locator(".statusbar").waitFor({ timeout: 60_000 });
  }

  /** Runs a command from the palette by its full title, e.g. "MLR-Copilot: Show status". */
  async command(title: string): Promise<void> {
    // An editor that takes the focus once its content is ready (the binary-file notice of a
    // PDF tab does) closes the palette under the typing; then the palette is opened again.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.runFromPalette(title);
        return;
      } catch (error) {
        if (attempt === 3) {
          throw error;
        }
        await this.page.keyboard.press("Escape");
      }
    }
  }

  private async runFromPalette(title: string): Promise<void> {
    const input = this.page.locator(".quick-input-widget input");
    // F1 can be swallowed while a notification or a closing modal editor holds the focus:
    // then focus the editor area and try again, and last open the palette from the title bar.
    const openers = [
      () => this.page.keyboard.press("F1"),
      async () => {
        await this.page.locator(".part.editor").first().click({ position: { x: 20, y: 200 } }).catch(() => undefined);
        await this.page.keyboard.press("F1");
      },
      async () => {
        await this.page.locator(".command-center .action-label").first().click();
        await input.waitFor({ state: "visible", timeout: 5000 });
        await input.fill(">");
      },
    ];
    for (const open of openers) {
      try {
        await open();
        await input.waitFor({ state: "visible", timeout: 5000 });
        break;
      } catch {
        await this.page.keyboard.press("Escape");
      }
    }
    await input.fill(`>${title}`);
    // The palette ranks fuzzy matches and may still show the rows of a previous filter, so
    // Enter on whatever row is focused can run another command ("View: Close Editor" finds
    // "View: Close All Editor Groups" first): the row with exactly this label is clicked.
    const row = this.page
      .locator(".quick-input-list .monaco-list-row")
      .filter({ has: this.page.locator(".label-name", { hasText: new RegExp(`^${escapeRegExp(title)}$`) }) })
      .first();
    await row.click({ timeout: 15_000 });
    // Done when the palette has gone, or has become the command's own quick pick or input box.
    const deadline = Date.now() + 10_000;
    while ((await input.isVisible()) && (await input.inputValue()).startsWith(">")) {
      if (Date.now() > deadline) {
        throw new Error(`the palette stayed open after choosing ${title}`);
      }
      await this.page.waitForTimeout(100);
    }
  }

  /** The quick pick / input box the extension opened. */
  get quickInput(): Locator {
    return this.page.locator(".quick-input-widget");
  }

  /** A notification, as a toast or in the notification center. */
  notification(text: RegExp | string): Locator {
    return this.page.locator(".notification-list-item", { hasText: text }).first();
  }

  /**
   * Waits for a notification. Toasts are not shown while a modal editor (settings.json)
   * is open, so after a few seconds the notification center is opened to look there too.
   */
  async waitNotification(text: RegExp | string, timeoutMs = 30_000): Promise<string> {
    const item = this.notification(text);
    const deadline = Date.now() + timeoutMs;
    let nextCenter = Date.now() + 4000;
    while (Date.now() < deadline) {
      if (await item.isVisible().catch(() => false)) {
        return (await item.locator(".notification-list-item-message").innerText()).trim();
      }
      if (Date.now() > nextCenter && !(await this.page.locator(".notifications-center.visible").isVisible())) {
        await this.command("Notifications: Show Notifications");
        nextCenter = Date.now() + 8000;
      }
      await this.page.waitForTimeout(250);
    }
    throw new Error(`no notification matched ${text} within ${timeoutMs} ms`);
  }

  async clearNotifications(): Promise<void> {
    await this.command("Notifications: Clear All Notifications");
    await this.page.keyboard.press("Escape");
  }

  /**
   * Waits for VS Code's refactor preview and applies it the way a person does: a change the
   * server marks as needing confirmation starts unticked, so each file is ticked, then Apply.
   */
  async applyRefactorPreview(shotName: string, timeoutMs = 180_000): Promise<void> {
    const panel = this.page.locator(".bulk-edit-panel");
    const apply = this.page.locator(".monaco-button", { hasText: /^Apply$/ }).first();
    await apply.waitFor({ timeout: timeoutMs });
    const boxes = panel.locator(".edit-checkbox");
    await boxes.first().waitFor({ timeout: 15_000 });
    // Ticking a file ticks its edits a moment later, so a count taken just before that redraw
    // can name a box that is gone by the time it is clicked: each click is short and retried,
    // and "all ticked" must hold for five checks in a row before Apply.
    const unticked = panel.locator(".edit-checkbox:not(.checked)");
    const deadline = Date.now() + 30_000;
    for (let quietChecks = 0; quietChecks < 5; ) {
      if (Date.now() > deadline) {
        throw new Error("the refactor preview's changes could not be ticked");
      }
      if ((await unticked.count()) === 0) {
        quietChecks += 1;
        await this.page.waitForTimeout(100);
        continue;
      }
      quietChecks = 0;
      await unticked.first().click({ timeout: 2_000 }).catch(() => undefined);
      await this.page.waitForTimeout(150);
    }
    await this.shot(shotName);
    await apply.click();
    await panel.waitFor({ state: "hidden", timeout: 15_000 }).catch(() => undefined);
  }

  statusItem(): Locator {
    return this.page.locator(".statusbar-item", { hasText: /MLR/ }).first();
  }

  async waitStatus(text: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      last = (await this.statusItem().innerText().catch(() => "")).trim();
      if (text.test(last)) {
        return last;
      }
      await this.page.waitForTimeout(250);
    }
    throw new Error(`status bar never matched ${text}; last: "${last}"`);
  }

  /** The MLR-Copilot output channel as VS Code wrote it to disk. */
  outputChannelText(): string {
    const logs = path.join(this.userData, "logs");
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          walk(full);
        } else if (/MLR-Copilot\.log$/.test(entry.name) && !/Trace/.test(entry.name)) {
          found.push(full);
        }
      }
    };
    walk(logs);
    return found.map((f) => fs.readFileSync(f, "utf8")).join("\n");
  }

  async shot(name: string): Promise<string> {
    this.shots += 1;
    const file = path.join(this.config.artifacts, `${String(this.shots).padStart(2, "0")}-${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  get codeServerLog(): string {
    return this.serverLog;
  }

  async close(): Promise<void> {
    await this.context?.close().catch(() => undefined);
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      if (this.proc.exitCode === null) {
        this.proc.kill("SIGKILL");
      }
    }
  }
}

/** A small git repository with an experiment script, as a user would open it. */
export function makeWorkspace(parent: string, name: string, git = true): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "train.py"),
    [
      "import json",
      "",
      "accuracy = 0.75",
      "with open('results.json', 'w') as f:",
      "    json.dump({'accuracy': accuracy}, f)",
      "print('accuracy', accuracy)",
      "",
    ].join("\n"),
  );
  fs.writeFileSync(path.join(dir, ".gitignore"), ".mlr/\nresults.json\n");
  if (git) {
    const run = (...args: string[]) => execFileSync("git", args, { cwd: dir, stdio: "ignore" });
    run("init", "-q", "-b", "main");
    run("-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "add", ".");
    run("-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "-q", "-m", "baseline");
  }
  return dir;
}

/** An executable shell script in `dir`. */
export function writeScript(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}
