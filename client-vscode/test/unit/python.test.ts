import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import {
  NoInterpreterError,
  checkServerModule,
  expandSetting,
  findInterpreter,
  pipInstallArgs,
  whichSync,
  type InterpreterSources,
} from "../../src/python";

function sources(over: Partial<InterpreterSources>): InterpreterSources & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    setting: over.setting ?? (() => undefined),
    pythonExtension:
      over.pythonExtension ??
      (async () => {
        asked.push("python-extension");
        return undefined;
      }),
    onPath: (name) => {
      asked.push(name);
      return over.onPath?.(name);
    },
  };
}

test("the setting wins and nothing else is asked", async () => {
  const s = sources({ setting: () => "/opt/py/bin/python", pythonExtension: async () => "/ext/python" });
  assert.deepEqual(await findInterpreter(s), { path: "/opt/py/bin/python", source: "setting" });
  assert.deepEqual(s.asked, []);
});

test("a blank setting falls through to the Python extension", async () => {
  const s = sources({ setting: () => "   ", pythonExtension: async () => "/venv/bin/python" });
  assert.deepEqual(await findInterpreter(s), { path: "/venv/bin/python", source: "python-extension" });
});

test("without the extension, python3 then python on PATH", async () => {
  const s = sources({ onPath: (name) => (name === "python" ? "/usr/bin/python" : undefined) });
  assert.deepEqual(await findInterpreter(s), { path: "/usr/bin/python", source: "path" });
  assert.deepEqual(s.asked, ["python-extension", "python3", "python"]);
});

test("an extension that throws is treated as absent", async () => {
  const s = sources({
    pythonExtension: async () => {
      throw new Error("activation failed");
    },
    onPath: (name) => (name === "python3" ? "/usr/bin/python3" : undefined),
  });
  assert.deepEqual(await findInterpreter(s), { path: "/usr/bin/python3", source: "path" });
});

test("no interpreter anywhere is an error that says what to do", async () => {
  await assert.rejects(findInterpreter(sources({})), (error: Error) => {
    assert.ok(error instanceof NoInterpreterError);
    assert.match(error.message, /mlrCopilot\.interpreter/);
    return true;
  });
});

test("the setting expands ~, ${userHome} and ${workspaceFolder}", () => {
  assert.equal(expandSetting("~/venv/bin/python", "/ws", "/home/u"), "/home/u/venv/bin/python");
  assert.equal(expandSetting("${workspaceFolder}/.venv/bin/python", "/ws", "/home/u"), "/ws/.venv/bin/python");
  assert.equal(expandSetting("${userHome}/py", undefined, "/home/u"), "/home/u/py");
});

test("whichSync finds only executable files", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlr-which-"));
  fs.writeFileSync(path.join(dir, "python3"), "#!/bin/sh\n", { mode: 0o644 });
  fs.mkdirSync(path.join(dir, "python"));
  assert.equal(whichSync("python3", dir), undefined);
  assert.equal(whichSync("python", dir), undefined);
  fs.chmodSync(path.join(dir, "python3"), 0o755);
  assert.equal(whichSync("python3", `/nonexistent${path.delimiter}${dir}`), path.join(dir, "python3"));
});

test("the server check tells a missing interpreter from a missing package", async () => {
  const missing = await checkServerModule("/nonexistent/python3");
  assert.equal(missing.ok, false);
  assert.equal(!missing.ok && missing.reason, "not-runnable");

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlr-py-"));
  const broken = path.join(dir, "python");
  fs.writeFileSync(broken, "#!/bin/sh\necho 'Fatal Python error: init' >&2\nexit 3\n", { mode: 0o755 });
  const crashed = await checkServerModule(broken);
  assert.deepEqual(crashed, { ok: false, reason: "not-runnable", detail: "Fatal Python error: init" });

  // A real interpreter whose path holds a different `mlr_copilot`: its version is read.
  fs.mkdirSync(path.join(dir, "mlr_copilot"));
  fs.writeFileSync(path.join(dir, "mlr_copilot", "__init__.py"), "__version__ = '9.8.7'\n");
  const ok = await checkServerModule("python3", { ...process.env, PYTHONPATH: dir });
  assert.deepEqual(ok, { ok: true, version: "9.8.7" });
});

test("a virtual environment without the server is reported as not installed", async () => {
  const venv = fs.mkdtempSync(path.join(os.tmpdir(), "mlr-venv-"));
  execFileSync("python3", ["-m", "venv", "--without-pip", venv]);
  const env = { ...process.env };
  delete env.PYTHONPATH;
  const result = await checkServerModule(path.join(venv, "bin", "python"), env);
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.reason, "not-installed");
  assert.match(!result.ok ? result.detail : "", /mlr_copilot/);
});

test("pip installs from PyPI or from a local path", () => {
  assert.deepEqual(pipInstallArgs({ kind: "pypi" }), ["-m", "pip", "install", "--upgrade", "mlr-copilot"]);
  assert.deepEqual(pipInstallArgs({ kind: "path", path: "/src/mlr" }), ["-m", "pip", "install", "--upgrade", "/src/mlr"]);
});
