"""The LLM layer: providers, retries, structured replies and spend accounting. Import what
you need from its modules; this package imports nothing, so `config` can read the provider
registry without loading the client (asyncio) or, ever, a provider SDK.

- `base`: messages, completions, usage, the `Provider` protocol and the errors
- `spec`, `providers`: what a provider is (`ProviderSpec`) and the registry of them
- `openai_provider`, `anthropic_provider`, `scripted`: the providers, each with its spec
- `keys`, `redaction`: where keys come from, and keeping them out of messages
- `client` (`LLM`), `factory` (`make_llm`), `accounting` (`Ledger`, prices)
- `sdk_errors`, `model_list`, `model_check`: SDK errors, the models endpoint, `check_model`
"""
