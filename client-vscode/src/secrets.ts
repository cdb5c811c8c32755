// API keys live in VS Code's SecretStorage and reach the server only through its
// environment at start; they are never written to settings.
import type { SecretStorage } from "vscode";

export interface KeyProvider {
  label: string;
  env: string;
}

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
