// End to end in a real VS Code (code-server) with the packaged extension and the real
// server. Each step is one test; they share one editor and run in order.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe } from "node:test";
import { VsCode, configFromEnv, e2eSettings, makeWorkspace, stepper, writeScript } from "./harness";

const python = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();

/** The demo task's paper and its recorded LLM replies, where the installed server keeps them. */
function demoFiles(): { paper: string; script: string } {
  const out = execFileSync(
    python,
    ["-c", "import json; from mlr_copilot.autonomous.demo import demo_files; p, s = demo_files(); print(json.dumps([str(p), str(s)]))"],
    { encoding: "utf8" },
  );
  const [paper, script] = JSON.parse(out) as string[];
  return { paper, script };
}
const demo = demoFiles();

const baseSettings = e2eSettings({
  // settings.json in a tab: a modal editor that a notification interrupts can leave the
  // workbench without a working command palette
  "workbench.editor.useModal": "off",
  "mlrCopilot.statusPollSeconds": 2,
  "mlrCopilot.trace.server": "verbose",
  "mlrCopilot.llm.script": demo.script,
  "mlrCopilot.ideas.hypotheses": 3,
  // settings.json is edited by typing into it: nothing may be inserted besides the text
  "editor.autoClosingBrackets": "never",
  "editor.autoClosingQuotes": "never",
  "editor.autoIndent": "none",
  "editor.formatOnType": false,
  "editor.formatOnSave": false,
  "editor.acceptSuggestionOnEnter": "off",
});

/** The bundled demo task with its paper, as a fresh git repository. */
function makeDemoWorkspace(parent: string): string {
  const dir = path.join(parent, "demo");
  execFileSync(python, ["-c", "import sys; from pathlib import Path; from mlr_copilot.autonomous.demo import prepare; prepare(Path(sys.argv[1]))", dir]);
  fs.writeFileSync(path.join(dir, ".gitignore"), ".mlr/\nresults.json\npredictions.csv\n__pycache__/\ndata/\n");
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", ...args], { cwd: dir, encoding: "utf8" });
  git("init", "-q", "-b", "main");
  git("add", ".");
  git("commit", "-q", "-m", "starter code");
  return dir;
}

function gitLog(dir: string): string[] {
  return execFileSync("git", ["log", "--all", "--format=%s"], { cwd: dir, encoding: "utf8" }).trim().split("\n");
}

describe("MLR-Copilot in VS Code", () => {
  const vscode = new VsCode(configFromEnv());

  const step = stepper(vscode, "vscode");
  let workspace: string;
  let scratch: string;

  before(async () => {
    scratch = path.join(vscode.root, "scratch");
    fs.mkdirSync(scratch);
    workspace = makeWorkspace(vscode.root, "experiment");
    vscode.writeSettings(baseSettings);
    const installed = vscode.installExtension();
    assert.match(installed, /successfully installed/i);
    await vscode.start(workspace);
  });

  after(async () => {
    if (vscode.page) {
      await vscode.shot("final").catch(() => undefined);
    }
    await vscode.close();
  });

  step("the server starts and the status bar shows it", async () => {
    const text = await vscode.waitStatus(/MLR · \d/, 90_000);
    await vscode.shot("server-started");
    assert.match(text, /tok/);
  });

  step("Show status reports the running server and the configured provider", async () => {
    await vscode.command("MLR-Copilot: Show status");
    const message = await vscode.waitNotification(/MLR-Copilot .* running/);
    await vscode.shot("show-status");
    assert.match(message, /scripted/);
    assert.ok(message.includes(path.basename(workspace)), message);
    await vscode.clearNotifications();
  });

  step("the output channel shows the server log", async () => {
    await vscode.command("MLR-Copilot: Show server log");
    await vscode.page.locator(".panel .monaco-editor").first().waitFor({ timeout: 15_000 });
    await vscode.shot("output-channel");
    const log = vscode.outputChannelText();
    assert.match(log, /Starting the server with .*python.* \(from path\)/);
    assert.match(log, /mlr_copilot \S+ found in/);
    assert.match(log, /Server running\./);
  });

  step("a settings change restarts the server and takes effect", async () => {
    await vscode.updateSettings({ "mlrCopilot.llm.model": "e2e-model" });
    // the status bar may still show the old server for a moment: wait for the new one's start
    const restarted = /Restarting the server: 'mlrCopilot\.llm\.model' changed[\s\S]*Server running\./;
    const deadline = Date.now() + 60_000;
    while (!restarted.test(vscode.outputChannelText())) {
      assert.ok(Date.now() < deadline, "no restart after the settings change");
      await vscode.page.waitForTimeout(250);
    }
    await vscode.waitStatus(/MLR · \d/, 60_000);
    await vscode.command("MLR-Copilot: Show status");
    const message = await vscode.waitNotification(/MLR-Copilot .* running/);
    await vscode.shot("settings-applied");
    assert.match(message, /scripted e2e-model/);
    await vscode.clearNotifications();
  });

  step("the experiments view is in the explorer", async () => {
    await vscode.command("MLR-Copilot: Show history");
    const view = vscode.page.locator(".pane-header", { hasText: "MLR Experiments" });
    await view.waitFor({ timeout: 15_000 });
    await vscode.shot("experiments-view");
    await vscode.clearNotifications();
  });

  step("Set API key stores the key outside settings and restarts the server", async () => {
    await vscode.command("MLR-Copilot: Set API key");
    await vscode.quickInput.locator(".monaco-list-row", { hasText: "Anthropic" }).waitFor();
    await vscode.page.keyboard.type("Anthropic");
    await vscode.page.keyboard.press("Enter");
    const input = vscode.quickInput.locator("input[type=password]");
    await input.waitFor({ timeout: 10_000 });
    await input.fill("sk-ant-e2e-secret");
    await vscode.shot("api-key-input");
    await input.press("Enter");
    await vscode.waitNotification(/ANTHROPIC_API_KEY stored; restarting/);
    await vscode.waitStatus(/MLR · \d/, 60_000);
    assert.ok(!fs.readFileSync(vscode.settingsFile, "utf8").includes("sk-ant-e2e-secret"));
    assert.ok(!vscode.outputChannelText().includes("sk-ant-e2e-secret"));
    await vscode.clearNotifications();
  });

  step("an interpreter that does not exist is reported with what to do", async () => {
    await vscode.updateSettings({ "mlrCopilot.interpreter": path.join(scratch, "no-such-python") });
    const message = await vscode.waitNotification(/cannot be started/, 45_000);
    await vscode.shot("bad-interpreter");
    assert.match(message, /mlrCopilot\.interpreter/);
    await vscode.waitStatus(/MLR: stopped/, 10_000);
    await vscode.clearNotifications();
  });

  step("a Python without the server offers to install it", async () => {
    const venv = path.join(scratch, "venv");
    execFileSync(python, ["-m", "venv", "--without-pip", venv]);
    await vscode.updateSettings({ "mlrCopilot.interpreter": path.join(venv, "bin", "python") });
    await vscode.waitNotification(/is not installed in/, 45_000);
    const toast = vscode.notification(/is not installed in/);
    await vscode.shot("server-not-installed");
    assert.ok(await toast.locator(".monaco-button", { hasText: "Install from PyPI" }).isVisible());
    assert.ok(await toast.locator(".monaco-button", { hasText: "Install from Folder..." }).isVisible());
    await vscode.clearNotifications();
  });

  step("a server that crashes at start is restarted three times, then stops with a message", async () => {
    const crashing = writeScript(
      scratch,
      "crash-at-start",
      `case "$1" in -c) exec "${python}" "$@";; esac\necho "simulated start failure" >&2\nexit 3`,
    );
    await vscode.updateSettings({ "mlrCopilot.interpreter": crashing });
    const final = await vscode.waitNotification(/will not be restarted/, 90_000);
    await vscode.shot("crash-at-start");
    const log = vscode.outputChannelText();
    for (const attempt of ["1/3", "2/3", "3/3"]) {
      assert.ok(log.includes(`simulated start failure); restarting (${attempt})`), `no restart ${attempt} in the log`);
    }
    assert.match(final, /exit code 3: simulated start failure/);
    assert.match(final, /Restart server/);
    await vscode.waitStatus(/MLR: stopped/, 10_000);
    await vscode.clearNotifications();
  });

  step("a server that dies mid-session is restarted with the reason", async () => {
    const dying = writeScript(
      scratch,
      "dies-mid-session",
      `case "$1" in -c) exec "${python}" "$@";; esac\nexec timeout -s KILL 12 "${python}" "$@"`,
    );
    await vscode.updateSettings({ "mlrCopilot.interpreter": dying });
    try {
      await vscode.waitStatus(/MLR · \d/, 60_000);
      const message = await vscode.waitNotification(/stopped \(.*\); restarting \(1\/3\)/, 45_000);
      await vscode.shot("crash-mid-session");
      assert.match(message, /exit code 137|killed by SIGKILL/);
      await vscode.waitStatus(/MLR · \d/, 60_000);
    } finally {
      // the steps after this one need a working server, whatever happened here
      await vscode.clearNotifications();
      await vscode.updateSettings({ "mlrCopilot.interpreter": undefined });
      await vscode.page.waitForTimeout(1500);
      await vscode.waitStatus(/MLR · \d/, 60_000);
    }
  });

  step("a workspace that is not a git repository is reported", async () => {
    const plain = makeWorkspace(vscode.root, "not-a-repo", false);
    await vscode.openFolder(plain);
    await vscode.waitStatus(/MLR · \d/, 90_000);
    await vscode.command("MLR-Copilot: Undo last change");
    const message = await vscode.waitNotification(/not a git repository/, 30_000);
    await vscode.shot("not-a-git-repository");
    assert.ok(message.includes("not-a-repo"), message);
    await vscode.clearNotifications();
    await vscode.openFolder(workspace);
    await vscode.waitStatus(/MLR · \d/, 90_000);
  });

  const experimentsRows = () =>
    vscode.page.locator(".pane", { has: vscode.page.locator(".pane-header", { hasText: "MLR Experiments" }) }).locator(".monaco-list-row");
  let demoWorkspace: string;

  step(
    "propose hypotheses on the sample paper",
    async () => {
      demoWorkspace = makeDemoWorkspace(vscode.root);
      await vscode.openFolder(demoWorkspace);
      await vscode.waitStatus(/MLR · \d/, 90_000);
      await vscode.page.keyboard.press("ControlOrMeta+P");
      await vscode.quickInput.locator("input").fill("paper.pdf");
      await vscode.quickInput.locator(".monaco-list-row", { hasText: "paper.pdf" }).first().waitFor();
      await vscode.page.keyboard.press("Enter");
      await vscode.page.locator(".tab.active", { hasText: "paper.pdf" }).waitFor({ timeout: 15_000 });
      // the tab's binary-file notice takes the focus once it is drawn: let it, before the palette
      await vscode.page.getByText("Open Anyway").waitFor({ timeout: 10_000 }).catch(() => undefined);
      await vscode.command("MLR-Copilot: Propose hypotheses");
      const message = await vscode.waitNotification(/hypotheses proposed from paper\.pdf/, 240_000);
      assert.match(message, /3 hypotheses/);
      await vscode.page.locator(".tab.active", { hasText: "hypotheses.md" }).waitFor({ timeout: 15_000 });
      await vscode.page.locator(".codelens-decoration a", { hasText: "Accept" }).first().waitFor({ timeout: 30_000 });
      await vscode.shot("hypotheses-proposed");
      await vscode.clearNotifications();
    },
  );

  step(
    "accept the first hypothesis with its code lens",
    async () => {
      await vscode.page.locator(".codelens-decoration a", { hasText: "Accept" }).first().click();
      await vscode.command("MLR-Copilot: Show history");
      await experimentsRows().filter({ hasText: /accepted/ }).first().waitFor({ timeout: 30_000 });
      await vscode.shot("hypothesis-accepted");
      await vscode.clearNotifications();
    },
  );

  step(
    "implement it and apply the edits from the refactor preview",
    async () => {
      const before = gitLog(demoWorkspace).length;
      await vscode.command("MLR-Copilot: Implement hypothesis");
      await vscode.quickInput.locator(".monaco-list-row", { hasText: "accepted" }).first().waitFor({ timeout: 30_000 });
      await vscode.page.keyboard.press("Enter");
      await vscode.applyRefactorPreview("refactor-preview");
      const message = await vscode.waitNotification(/implementation/, 180_000);
      await vscode.shot("implemented");
      assert.match(message, /1 commit on mlr\//);
      assert.equal(gitLog(demoWorkspace).length, before + 1);
      await vscode.clearNotifications();
    },
  );

  step(
    "run the experiment and see the planted error as a diagnostic",
    async () => {
      await vscode.command("MLR-Copilot: Run experiment");
      const message = await vscode.waitNotification(/MLR-Copilot: run \S+ /, 300_000);
      assert.match(message, /failed/);
      assert.match(message, /problem/);
      await vscode.command("View: Focus Problems (Errors, Warnings, Infos)");
      const problem = vscode.page.locator(".markers-panel .monaco-list-row", { hasText: /train\.py|line/ }).first();
      await problem.waitFor({ timeout: 30_000 });
      await vscode.shot("run-failed-diagnostic");
      await vscode.clearNotifications();
    },
  );

  step(
    "accept the fix from the quick fix",
    async () => {
      const before = gitLog(demoWorkspace).length;
      const problem = vscode.page.locator(".markers-panel .monaco-list-row").filter({ hasNot: vscode.page.locator(".file-icon") }).first();
      await problem.click();
      await vscode.page.keyboard.press("Enter");
      await vscode.page.waitForTimeout(1000);
      await vscode.page.keyboard.press("ControlOrMeta+.");
      const fix = vscode.page.locator(".action-widget .monaco-list-row", { hasText: "Fix with MLR-Copilot" }).first();
      await fix.waitFor({ timeout: 30_000 });
      await vscode.shot("quick-fix");
      await fix.click();
      await vscode.applyRefactorPreview("fix-preview");
      const deadline = Date.now() + 300_000;
      while (gitLog(demoWorkspace).length <= before) {
        assert.ok(Date.now() < deadline, "the fix was not committed");
        await vscode.page.waitForTimeout(500);
      }
      await vscode.clearNotifications();
    },
  );

  step(
    "find the runs in the history view",
    async () => {
      await vscode.command("MLR-Copilot: Show history");
      // a run row reads "0.7348 macro_f1 (+x%)  ✓ 2m ago" then "passed · run <id>"
      const run = experimentsRows().filter({ hasText: /macro_f1.*passed · run / }).first();
      await run.waitFor({ timeout: 300_000 });
      await vscode.shot("history");
      await run.click();
      await vscode.page.locator(".tab.active", { hasText: /log/ }).waitFor({ timeout: 15_000 });
      await vscode.shot("run-log");
    },
  );
});
