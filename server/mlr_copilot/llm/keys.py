"""API keys: where each provider's key comes from, and how to keep keys out of every message.

Keys are read from the engine's environment (the process's, over the keys a workspace's `.env`
may provide: `envfile`). Every error message and log line of the LLM layer passes through
`redact`, so a key that a server or SDK echoes back never reaches the user's screen or a log
file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from mlr_copilot.llm.base import MissingKeyError

# The first name is the canonical one; later names are accepted aliases.
KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY"),
    "openai-compatible": ("OPENAI_API_KEY",),
}

# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"

_SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|_SECRET)$")
# Shorter values are too likely to be ordinary words; no real key is this short.
_MIN_SECRET_LENGTH = 8


def key_required(provider: str) -> bool:
    return provider in ("openai", "anthropic")


def _lookup(provider: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    for name in KEY_VARIABLES.get(provider, ()):
        value = (environ.get(name) or "").strip()
        if value:
            return name, value
    return None


def api_key_for(provider: str, environ: Mapping[str, str] | None = None) -> str:
    """The key for `provider`, or MissingKeyError naming the variable to set."""
    environ = os.environ if environ is None else environ
    found = _lookup(provider, environ)
    if found:
        return found[1]
    if provider == "openai-compatible":
        return PLACEHOLDER_KEY
    names = KEY_VARIABLES.get(provider)
    if not names:
        raise MissingKeyError(f"No API key is defined for provider '{provider}'")
    also = f" ({' or '.join(names[1:])} is accepted too)" if len(names) > 1 else ""
    raise MissingKeyError(f"No API key for {provider}: set {names[0]} (environment or .env){also}")


def key_status(provider: str, environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """(variable name, present) for `doctor`; the name is the alias in use when only it is set.

    For providers without a key (scripted) the name is empty and the status is present."""
    environ = os.environ if environ is None else environ
    names = KEY_VARIABLES.get(provider)
    if not names:
        return "", True
    found = _lookup(provider, environ)
    return (found[0], True) if found else (names[0], False)


def secrets_in(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every value in the environment that looks like a credential, by its variable's name."""
    environ = os.environ if environ is None else environ
    known = {name for names in KEY_VARIABLES.values() for name in names}
    return [
        value.strip()
        for name, value in environ.items()
        if (name in known or _SECRET_NAME.search(name)) and len(value.strip()) >= _MIN_SECRET_LENGTH
    ]


def redact(text: str, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> str:
    """`text` with every key value (from the environment, plus `extra`) replaced by ***."""
    values = set(secrets_in(environ))
    values.update(v for v in extra if v and len(v) >= _MIN_SECRET_LENGTH and v != PLACEHOLDER_KEY)
    # Longest first, so a key that contains another is hidden whole.
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    return text
