// The Experiments panel end to end: a workspace with runs on three branches (made with the
// real CLI), the panel opened from the palette in code-server, its table, plot and a
// comparison looked at and photographed, and a run made meanwhile showing up on its own.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe } from "node:test";
import type { FrameLocator } from "playwright-core";
import { VsCode, configFromEnv, e2eSettings, stepper } from "./harness";

const python = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
// where the lead looks at the pictures besides the CI artifacts (MLR_E2E_SHOTS_COPY)
const copyTo = process.env.MLR_E2E_SHOTS_COPY;

function train(accuracy: number, loss: number, fails = false): string {
  return [
    "import time",
    "time.sleep(0.2)",
    ...(fails ? ["raise ValueError('shapes (32, 10) and (64, 10) do not match')"] : []),
    `print("METRIC accuracy=${accuracy}")`,
    `print("METRIC loss=${loss}")`,
    "",
  ].join("\n");
}

/** Runs on main (the baseline and a rerun) and on two hypothesis branches, one of them failed. */
function makeWorkspace(parent: string): string {
  const dir = path.join(parent, "experiments");
  fs.mkdirSync(dir);
  const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", ...args], { cwd: dir, stdio: "ignore" });
  const run = (...flags: string[]) =>
    execFileSync(python, ["-m", "mlr_copilot.cli", "run", "--runner", "local", ...flags, "--", "python3", "train.py"], { cwd: dir, stdio: "ignore" });
  const step = (message: string, hypothesis: string, text: string) => {
    fs.writeFileSync(path.join(dir, "train.py"), text);
    git("commit", "-q", "-am", message, "-m", `MLR-Hypothesis: ${hypothesis}`);
    try {
      run();
    } catch {
      // a failed run exits non-zero; its record is what the panel shows
    }
  };
  fs.writeFileSync(path.join(dir, "train.py"), train(0.741, 0.52));
  fs.writeFileSync(path.join(dir, ".gitignore"), ".mlr/\nresults.json\n__pycache__/\n");
  git("init", "-q", "-b", "main");
  git("add", ".");
  git("commit", "-q", "-m", "Baseline: logistic regression");
  run("--baseline");
  run();
  git("switch", "-q", "-c", "mlr/h1-wider-hidden-layer");
  step("Widen the hidden layer to 256", "h1", train(0.768, 0.47));
  step("Tune the learning rate", "h1", train(0.785, 0.44));
  step("Add dropout", "h1", train(0, 0, true));
  git("switch", "-q", "main");
  git("switch", "-q", "-c", "mlr/h2-label-smoothing");
  step("Label smoothing 0.1", "h2", train(0.752, 0.5));
  step("Label smoothing 0.2", "h2", train(0.731, 0.55));
  git("switch", "-q", "main");
  return dir;
}

describe("the Experiments panel", () => {
  const vscode = new VsCode(configFromEnv());
  let workspace: string;
  let panel: FrameLocator;
  const shots: string[] = [];

  const step = stepper(vscode, "panel");
  const shot = async (name: string) => shots.push(await vscode.shot(name));
  const rows = () => panel.locator("#runs tbody tr");

  before(async () => {
    workspace = makeWorkspace(vscode.root);
    vscode.writeSettings(e2eSettings({ "workbench.view.alwaysShowHeaderActions": true }));
    assert.match(vscode.installExtension(), /successfully installed/i);
    await vscode.start(workspace);
    await vscode.waitStatus(/MLR · \d/, 90_000);
  });

  after(async () => {
    await vscode.close();
    if (copyTo) {
      fs.mkdirSync(copyTo, { recursive: true });
      for (const file of shots) {
        fs.copyFileSync(file, path.join(copyTo, path.basename(file)));
      }
    }
  });

  step("the palette opens the panel with one row per run of every branch", async () => {
    await vscode.command("MLR-Copilot: Experiments");
    panel = vscode.page.frameLocator("iframe.webview.ready").frameLocator("#active-frame");
    await rows().nth(6).waitFor({ timeout: 60_000 });
    assert.equal(await rows().count(), 7);
    const text = await panel.locator("#runs").innerText();
    for (const expected of ["mlr/h1-wider-hidden-layer", "mlr/h2-label-smoothing", "main", "baseline", "+5.9%", "failed"]) {
      assert.ok(text.includes(expected), `the table shows ${expected}`);
    }
    assert.match(await panel.locator(".message").innerText(), /7 runs on 3 branches/);
    await shot("panel-overview");
  });

  step("sorting by the primary metric puts the best run first; a filter keeps one branch", async () => {
    await panel.locator("#runs th", { hasText: /^accuracy/ }).click();
    assert.match(await rows().first().innerText(), /0\.7850/);
    await panel.getByLabel("Branch", { exact: true }).selectOption("mlr/h1-wider-hidden-layer");
    await panel.locator(".message", { hasText: "3 shown" }).waitFor({ timeout: 10_000 });
    assert.equal(await rows().count(), 3);
    await panel.locator("#runs").scrollIntoViewIfNeeded();
    await shot("panel-table-sorted-filtered");
    await panel.getByLabel("Branch", { exact: true }).selectOption("");
    await panel.locator(".message", { hasText: /^7 runs on 3 branches$/ }).waitFor({ timeout: 10_000 });
  });

  step("hiding a column removes it from the table", async () => {
    await panel.locator("details.columns summary").click();
    await panel.locator("details.columns label", { hasText: "Runner · node" }).locator("input").uncheck();
    assert.equal(await panel.locator("#runs th", { hasText: "Runner · node" }).count(), 0);
    await panel.locator("details.columns summary").click();
  });

  step("the plot draws one line per branch, the baseline, and any metric chosen", async () => {
    const plot = panel.locator("#plot");
    assert.equal(await plot.locator("path.line").count(), 3);
    assert.equal(await plot.locator("circle.dot").count(), 6, "the failed run has no value");
    assert.equal(await plot.locator("line.baseline").count(), 1);
    await panel.getByLabel("Plot", { exact: true }).selectOption("loss");
    await plot.locator("h3", { hasText: "loss" }).waitFor({ timeout: 10_000 });
    await plot.scrollIntoViewIfNeeded();
    await shot("panel-plot-loss");
    await panel.getByLabel("Plot", { exact: true }).selectOption("accuracy");
    await plot.locator("h3", { hasText: "accuracy" }).waitFor({ timeout: 10_000 });
    await shot("panel-plot-accuracy");
  });

  step("two runs selected compare their metrics, settings and code diff", async () => {
    const pick = (text: RegExp) => rows().filter({ hasText: text }).first().locator("input[type=checkbox]").check();
    await pick(/baseline/);
    await pick(/0\.7850/);
    await panel.locator("#compare").click();
    const comparison = panel.locator("#comparison");
    await comparison.locator("pre.diff").waitFor({ timeout: 30_000 });
    const text = await comparison.innerText();
    assert.match(text, /accuracy\s+0\.7410\s+0\.7850/);
    assert.ok(text.includes('+print("METRIC accuracy=0.785")'), "the code diff between the commits");
    assert.match(text, /branch\s+main\s+mlr\/h1-wider-hidden-layer/);
    await shot("panel-compare");
  });

  step("a run's log opens beside the panel", async () => {
    await rows().filter({ hasText: "failed" }).first().locator("button", { hasText: "Log" }).click();
    await vscode.page.locator(".tab", { hasText: /\.log/ }).first().waitFor({ timeout: 15_000 });
    const editor = vscode.page.locator(".editor-group-container .monaco-editor", { hasText: "ValueError" });
    await editor.first().waitFor({ timeout: 15_000 });
  });

  step("a run made from the terminal shows up without a click", async () => {
    execFileSync(python, ["-m", "mlr_copilot.cli", "run", "--runner", "local", "--", "python3", "train.py"], { cwd: workspace, stdio: "ignore" });
    await rows().nth(7).waitFor({ timeout: 40_000 });
    assert.match(await panel.locator(".message").innerText(), /8 runs on 3 branches/);
  });

  step("the MLR Experiments view's title has a button that opens the panel", async () => {
    await vscode.command("View: Close All Editors");
    await vscode.page.locator(".tab", { hasText: "MLR-Copilot: Experiments" }).waitFor({ state: "hidden", timeout: 10_000 });
    const header = vscode.page.locator(".pane-header", { hasText: "MLR Experiments" });
    if ((await header.getAttribute("aria-expanded")) !== "true") {
      await header.click();
    }
    await header.locator(".action-label[aria-label*='Experiments']").first().click();
    await vscode.page.locator(".tab", { hasText: "MLR-Copilot: Experiments" }).waitFor({ timeout: 15_000 });
    await rows().nth(7).waitFor({ timeout: 30_000 });
  });
});
