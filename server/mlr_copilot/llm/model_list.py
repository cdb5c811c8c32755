"""What a provider's models endpoint lists (`models.list` in both SDKs; `/v1/models` on an
OpenAI-compatible server), for the "model not found" error and for `check_model`. The names
come from the endpoint: each is cut to 100 characters and any key in them masked."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mlr_copilot.llm.base import LLMError
from mlr_copilot.llm.redaction import redact

# How many model names a message lists, how many ids are read at most (pages are followed up
# to this), and how long each page may take.
LISTED_MODELS = 20
MAX_MODELS = 1000
MODELS_TIMEOUT_S = 10.0
# Not chat models: an official OpenAI key lists these too, and none would answer a prompt.
_NOT_CHAT = ("audio", "realtime", "transcribe", "tts", "image", "embedding", "moderation", "whisper", "dall-e", "search")
# How a listed id may name a configured alias: a dated snapshot, or Ollama's default tag.
_SNAPSHOT = r"(-\d{8}|-\d{4}-\d{2}-\d{2}|:latest)"


async def model_ids(client: Any) -> list[str]:
    """The model ids `client` (an openai or anthropic SDK client) lists, sorted; raises the SDK's error."""
    ids: set[str] = set()
    async for item in client.models.list(timeout=MODELS_TIMEOUT_S):
        if getattr(item, "id", None):
            ids.add(str(item.id))
        if len(ids) >= MAX_MODELS:
            break
    return sorted(ids)


def chat_models(ids: Sequence[str]) -> list[str]:
    """`ids` without OpenAI's audio, image and embedding models."""
    return [i for i in ids if not any(word in i for word in _NOT_CHAT)]


def listing(models: Sequence[str]) -> str:
    """`models` for a one-line message: the first few, then how many more."""
    more = len(models) - LISTED_MODELS
    return ", ".join(name[:100] for name in models[:LISTED_MODELS]) + (f" and {more} more" if more > 0 else "")


def served_as(model: str, ids: Sequence[str]) -> str | None:
    """The listed id that serves `model`: itself, or the snapshot an alias names
    ("claude-sonnet-4-5" as "claude-sonnet-4-5-20250929", "llama3.1" as "llama3.1:latest")."""
    if model in ids:
        return model
    base = model.removesuffix("-latest")
    pattern = re.compile(re.escape(base) + _SNAPSHOT)
    return max((i for i in ids if pattern.fullmatch(i)), default=None)


async def not_found(client: Any, exc: Exception, translated: LLMError, *, chat_only: bool = False,
                    secrets: Sequence[str] = ()) -> LLMError:
    """For an HTTP 404, the error again with the models the key can use (`chat_only` drops
    OpenAI's audio, image and embedding models); unchanged when the endpoint does not answer."""
    if getattr(exc, "status_code", None) != 404:
        return translated
    try:
        models = await model_ids(client)
    except Exception:
        return translated
    models = chat_models(models) if chat_only else models
    return LLMError(redact(f"{translated} Models this key can use: {listing(models) or 'none'}", extra=secrets))


def listing_error(exc: Exception, translated: LLMError, *, provider: str, where: str) -> LLMError:
    """The error for a failed `models.list`: a 404 means the server lists no models, not that
    the configured model is missing (which is what `translated` says for a 404)."""
    if getattr(exc, "status_code", None) == 404:
        return LLMError(f"{provider}: {where} does not list its models (HTTP 404)")
    return translated
