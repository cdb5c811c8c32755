import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { SERVER_SETTINGS, serverSettings } from "../../src/settings";

const packageJson = JSON.parse(fs.readFileSync(path.join(__dirname, "../../../package.json"), "utf8"));
const contributed: Record<string, { default: unknown; description?: string; markdownDescription?: string }> =
  packageJson.contributes.configuration.properties;

test("unset settings take the server defaults, nested by section", () => {
  const settings = serverSettings(() => undefined);
  assert.equal(settings.llm.provider, "openai");
  assert.equal(settings.llm.maxTokens, 4096);
  assert.equal(settings.run.command, null);
  assert.deepEqual(settings.implement.prototypePaths, []);
  assert.equal(settings.run.direction, null);
  assert.deepEqual(Object.keys(settings).sort(), ["ideas", "implement", "llm", "run", "search", "tracking"]);
});

test("set values are mapped to their section and key", () => {
  const values: Record<string, unknown> = {
    "llm.provider": "scripted",
    "llm.script": "replies.jsonl",
    "run.runner": "local",
    "run.timeout": 30,
    "ideas.online": false,
  };
  const settings = serverSettings((key) => values[key]);
  assert.equal(settings.llm.provider, "scripted");
  assert.equal(settings.llm.script, "replies.jsonl");
  assert.equal(settings.run.runner, "local");
  assert.equal(settings.run.timeout, 30);
  assert.equal(settings.ideas.online, false);
  assert.equal(settings.llm.model, "");
});

test("client-only settings never reach the server", () => {
  const settings = serverSettings((key) => (key === "interpreter" ? "/usr/bin/python3" : undefined));
  const flat = Object.values(settings).flatMap((section) => Object.keys(section));
  assert.ok(!flat.includes("interpreter"));
  assert.ok(!("trace" in settings));
});

test("every server setting is contributed with the same default and a description", () => {
  for (const [key, fallback] of Object.entries(SERVER_SETTINGS)) {
    const entry = contributed[`mlrCopilot.${key}`];
    assert.ok(entry, `mlrCopilot.${key} missing from package.json`);
    assert.deepEqual(entry.default, fallback, `default of mlrCopilot.${key}`);
    assert.ok(entry.description || entry.markdownDescription, `description of mlrCopilot.${key}`);
  }
  const serverKeys = Object.keys(contributed).filter(
    (k) => !["mlrCopilot.interpreter", "mlrCopilot.trace.server", "mlrCopilot.statusPollSeconds"].includes(k),
  );
  assert.deepEqual(serverKeys.sort(), Object.keys(SERVER_SETTINGS).map((k) => `mlrCopilot.${k}`).sort());
});

test("the defaults match the server's own settings model", (t) => {
  let dumped: string;
  try {
    dumped = execFileSync(
      process.env.MLR_TEST_PYTHON ?? "python3",
      ["-c", "import json; from mlr_copilot.config import Settings; print(json.dumps(Settings().model_dump(by_alias=True)))"],
      { encoding: "utf8" },
    );
  } catch {
    t.skip("mlr_copilot is not importable by python3 (pip install -e the repository)");
    return;
  }
  const server = JSON.parse(dumped) as Record<string, Record<string, unknown>>;
  assert.deepEqual(serverSettings(() => undefined), server);
});
