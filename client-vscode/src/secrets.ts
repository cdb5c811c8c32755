// API keys live in VS Code's SecretStorage and reach the server only through its
// environment at start; they are never written to settings.
import type { SecretStorage } from "vscode";

export interface KeyProvider {
  label: string;
  env: string;
}

// One entry per canonical key variable of the server's provider registry
// (server/mlr_copilot/llm/providers.py); tests/llm/test_registry.py holds this list to it.
export const KEY_PROVIDERS: readonly KeyProvider[] = [
  { label: "OpenAI (and OpenAI-compatible endpoints)", env: "OPENAI_API_KEY" },
  { label: "Anthropic", env: "ANTHROPIC_API_KEY" },
];

const secretName = (env: string) => `mlrCopilot.apiKey.${env}`;

export class ApiKeys {
  constructor(private readonly storage: SecretStorage) {}

  async set(env: string, value: string): Promise<void> {
    if (value) {
      await this.storage.store(secretName(env), value);
    } else {
      await this.storage.delete(secretName(env));
    }
  }

  /** The stored keys as environment variables for the server process. */
  async environment(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const { env } of KEY_PROVIDERS) {
      const value = await this.storage.get(secretName(env));
      if (value) {
        out[env] = value;
      }
    }
    return out;
  }
}
