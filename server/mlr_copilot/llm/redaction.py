"""Keep keys out of every message: every error message and log line of the LLM layer passes
through `redact`, so a key that a server or SDK echoes back never reaches the user's screen or
a log file. Every provider's key variable is named like a secret (`ProviderSpec` checks it), so
the pattern alone finds them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from mlr_copilot.llm.spec import PLACEHOLDER_KEY, SECRET_NAME

# Shorter values are too likely to be ordinary words; no real key is this short.
_MIN_SECRET_LENGTH = 8


def _secrets_in(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every value in the environment that looks like a credential, by its variable's name."""
    environ = os.environ if environ is None else environ
    return [
        value.strip()
        for name, value in environ.items()
        if SECRET_NAME.search(name) and len(value.strip()) >= _MIN_SECRET_LENGTH
    ]


def redact(text: str, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> str:
    """`text` with every key value (from the environment, plus `extra`) replaced by ***."""
    values = set(_secrets_in(environ))
    values.update(v for v in extra if v and len(v) >= _MIN_SECRET_LENGTH and v != PLACEHOLDER_KEY)
    # Longest first, so a key that contains another is hidden whole.
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    return text
