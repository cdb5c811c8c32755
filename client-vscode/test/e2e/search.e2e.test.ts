// The tree search in the MLR Experiments view end to end: a workspace after a real search
// (the local runner, scripted replies: tests/cli/test_search_cli.py `searched`), its tree
// shown with each node under its parent, and "Improve This Node…" from a node's context menu
// adding a child that shows up under it; a node another process writes (a search in a terminal)
// shows up too, without a refresh.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe } from "node:test";
import { VsCode, configFromEnv, e2eSettings, stepper } from "./harness";

const python = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
// out/test/e2e -> the repository: the server and the seeding run this checkout's code
const repo = path.resolve(__dirname, "..", "..", "..", "..");
const serverPath = path.join(repo, "server");

/** A real search's workspace, made by the Python tests' own helper. */
function searchedWorkspace(parent: string): string {
  const env = { ...process.env, PYTHONPATH: `${serverPath}${path.delimiter}${repo}`, HF_HUB_CACHE: path.join(parent, "hf") };
  execFileSync(python, ["-c", "import sys, pathlib; from tests.cli.test_search_cli import searched; searched(pathlib.Path(sys.argv[1]))", parent], {
    env,
    stdio: "inherit",
  });
  return path.join(parent, "ws");
}

/** What a search in a terminal does to the session: its journal written by another process. */
function writeNodeElsewhere(workspace: string, node: string, parent: string): void {
  const code = [
    "import sys, pathlib",
    "from mlr_copilot.search import store",
    "ws, node, parent = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]",
    "journal = store.load_session(ws, None)",
    "journal.nodes.append(journal.node(parent).model_copy(update={'id': node, 'parent': parent, 'summary': 'from a terminal'}))",
    "store.save(ws, journal)",
  ].join("\n");
  execFileSync(python, ["-c", code, workspace, node, parent], { env: { ...process.env, PYTHONPATH: serverPath }, stdio: "inherit" });
}

/** The interpreter the extension starts the server with: this checkout's server, whatever is installed. */
function interpreter(parent: string): string {
  const file = path.join(parent, "python-checkout");
  fs.writeFileSync(file, `#!/bin/sh\nPYTHONPATH="${serverPath}" exec "${python}" "$@"\n`, { mode: 0o755 });
  return file;
}

describe("the search tree in the MLR Experiments view", () => {
  const vscode = new VsCode(configFromEnv());
  let workspace: string;

  const step = stepper(vscode, "search");
  const rows = () =>
    vscode.page.locator(".pane", { has: vscode.page.locator(".pane-header", { hasText: "MLR Experiments" }) }).locator(".monaco-list-row");
  const row = (text: string | RegExp) => rows().filter({ hasText: text }).first();
  const level = async (text: string | RegExp) => Number(await row(text).getAttribute("aria-level"));

  before(async () => {
    const seeded = path.join(vscode.root, "search");
    fs.mkdirSync(seeded);
    workspace = searchedWorkspace(seeded);
    const script = path.join(seeded, "improve.jsonl");
    const edit = "SUMMARY: Raise to 0.75\nWHY: asked.\n\ntrain.py\n<<<<<<< SEARCH\nSCORE = 0.7\n=======\nSCORE = 0.75\n>>>>>>> REPLACE\n";
    fs.writeFileSync(script, JSON.stringify({ call: "search.improve", response: edit, expect: ["try 0.75"] }) + "\n");
    vscode.writeSettings(
      e2eSettings({
        "mlrCopilot.interpreter": interpreter(seeded),
        "mlrCopilot.llm.script": script,
      }),
    );
    assert.match(vscode.installExtension(), /successfully installed/i);
    await vscode.start(workspace);
    await vscode.waitStatus(/MLR · \d/, 90_000);
  });

  after(async () => {
    await vscode.close();
  });

  step("the view shows the search: the baseline, and each node's children under it", async () => {
    await vscode.command("MLR-Copilot: Show history");
    // the folder's files take the explorer's height: folded, every row of the tree is drawn
    const folders = vscode.page.locator(".pane-header[aria-expanded=true]", { hasText: /^\s*ws/i }).first();
    if (await folders.isVisible()) {
      await folders.click();
    }
    await row(/^Search \d{8}-\d{6}/).waitFor({ timeout: 60_000 });
    await row("n004 improve").waitFor({ timeout: 30_000 });
    const baseline = await level("Baseline · score 0.5000");
    assert.equal(await level(/^Search /), baseline - 1);
    assert.equal(await level("n001 draft · score 0.6000 (+20.0%) · passed"), baseline + 1);
    assert.equal(await level("n004 improve · score 0.7000 (+40.0%) · passed ★"), baseline + 2);
    assert.equal(await level("n002 draft · no score · failed"), baseline + 1);
    assert.equal(await level("n003 debug"), baseline + 2);
    assert.match(await row("n004 improve").innerText(), /\$0\.0000 · .*Raise to 0\.7/);
    await vscode.shot("search-tree");
  });

  step("Improve This Node… with an instruction adds a child under the node", async () => {
    await row("n004 improve").click({ button: "right" });
    const item = vscode.page.locator(".context-view .action-label", { hasText: "Improve This Node…" });
    await item.click({ timeout: 15_000 });
    const input = vscode.quickInput.locator("input");
    const asked = () => input.waitFor({ timeout: 5_000 }).then(() => true, () => false);
    // under load a click can land while the menu is still opening, which then stays open: the
    // item it focused takes Enter. A menu that took the click closes while it is looked at, so
    // only one still open once the input had its time is given Enter.
    if (!(await asked()) && (await item.isVisible())) {
      await item.hover();
      await vscode.page.keyboard.press("Enter");
    }
    await input.waitFor({ timeout: 30_000 });
    await input.fill("try 0.75");
    await vscode.shot("search-improve-instruction");
    await input.press("Enter");
    await row("n005 improve").waitFor({ timeout: 120_000 });
    await row(/n005 improve · score 0\.7500 \(\+50\.0%\) · passed/).waitFor({ timeout: 60_000 });
    assert.equal(await level("n005 improve"), (await level("n004 improve")) + 1);
    await vscode.waitNotification(/n005/, 30_000);
    await vscode.shot("search-improved");
  });

  step("a node a search in a terminal writes shows up under its parent on its own", async () => {
    writeNodeElsewhere(workspace, "n006", "n005");
    await row(/n006 improve .*· passed/).waitFor({ timeout: 30_000 });
    assert.equal(await level("n006 improve"), (await level("n005 improve")) + 1);
    assert.match(await row("n006 improve").innerText(), /from a terminal/);
    await vscode.shot("search-from-terminal");
  });
});
