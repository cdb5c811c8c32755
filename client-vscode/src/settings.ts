// The settings the server reads, mapped from VS Code's `mlrCopilot.*` configuration.
// Client-only keys (interpreter, trace, polling) never reach the server.

export type SettingValue = string | number | boolean | null | string[] | Record<string, number>;

/** Every server setting (dotted key under `mlrCopilot`) with the server's default. */
export const SERVER_SETTINGS: Readonly<Record<string, SettingValue>> = {
  "llm.provider": "openai",
  "llm.model": "",
  "llm.baseUrl": null,
  "llm.script": null,
  "llm.maxTokens": 4096,
  "llm.temperature": 0.2,
  "llm.timeout": 120,
  "llm.maxRetries": 4,
  "llm.budgetUsd": null,
  "llm.budgetTokens": null,
  "ideas.hypotheses": 5,
  "ideas.library": null,
  "ideas.online": true,
  "implement.maxSteps": 8,
  "implement.maxEditRetries": 2,
  "implement.prototypePaths": [],
  "implement.maxModelSizeMb": 2000,
  "run.command": null,
  "run.runner": "auto",
  "run.image": "mlr-python:bookworm",
  "run.timeout": 3600,
  "run.memoryMb": 4096,
  "run.cpus": 2,
  "run.maxProcesses": 256,
  "run.maxOutputMb": 200,
  "run.network": false,
  "run.gpus": false,
  "run.resultsFile": "results.json",
  "run.metric": null,
  "run.direction": null,
  "run.debugAttempts": 3,
  "run.parallel": null,
  "run.gpusPerRun": null,
  "run.gpuIds": null,
  "run.reuseWorktrees": true,
  "run.rayAddress": "",
  "run.rayNumCpus": 1,
  "run.rayNumGpus": null,
  "run.rayResources": {},
  "run.rayCode": "tarball",
  "run.raySandbox": "auto",
  "tracking.mlflowUri": null,
  "search.initialDrafts": 2,
  "search.debugDepth": 2,
  "search.epsilon": 0.1,
  "search.rngSeed": 0,
  "search.reflectEvery": 4,
  "search.ideasAfterReflect": 1,
  "search.targetImprovement": null,
  "search.maxNodes": 12,
  "search.hours": null,
  "search.computeSeconds": null,
  "search.seeds": 3,
  "search.seedFlag": "--seed",
};

/** Settings whose change needs a new server process rather than a configuration push. */
export const RESTART_SETTINGS = ["mlrCopilot.interpreter"];

export type NestedSettings = Record<string, Record<string, SettingValue>>;

/**
 * The nested object the server expects (`{llm: {provider, ...}, run: {...}}`), from a
 * getter of dotted keys. Unset keys take the server default; a value of the wrong type
 * is passed through so the server names it in its warning.
 */
export function serverSettings(get: (key: string) => unknown): NestedSettings {
  const out: NestedSettings = {};
  for (const [key, fallback] of Object.entries(SERVER_SETTINGS)) {
    const [section, name] = key.split(".");
    const value = get(key);
    (out[section] ??= {})[name] = value === undefined ? fallback : (value as SettingValue);
  }
  return out;
}

/** Relative paths in path-like settings are relative to the workspace; the server resolves them. */
export function settingsSummary(settings: NestedSettings): string {
  const llm = settings.llm ?? {};
  const run = settings.run ?? {};
  return `provider ${llm.provider}${llm.model ? ` (${llm.model})` : ""}, runner ${run.runner}, command "${run.command}"`;
}
