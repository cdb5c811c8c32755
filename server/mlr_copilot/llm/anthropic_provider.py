"""Anthropic Messages API. The system prompt goes top-level, turns must alternate, and JSON
mode is an instruction (the API has no JSON switch; `LLM.structured` extracts the object)."""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Sequence
from typing import Any

from mlr_copilot.llm.base import Completion, LLMError, Message, Usage, estimate_usage
from mlr_copilot.llm.model_list import listing_error, model_ids, not_found
from mlr_copilot.llm.redaction import redact
from mlr_copilot.llm.sdk_errors import translate
from mlr_copilot.llm.spec import Price, ProviderSpec, sdk_build

log = logging.getLogger(__name__)

ANTHROPIC_HOST = "https://api.anthropic.com"
JSON_INSTRUCTION = "Reply with only a single JSON object: no prose before or after it, no code fences."


# Anthropic caches a prompt's prefix only up to a block marked so, and takes at most four marks
CACHE_CONTROL = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4


def _blocks(message: Message, marks: int) -> list[dict[str, Any]]:
    """The message's text blocks, cut at its breakpoints; the first `marks` cuts marked."""
    cuts = [0, *message.breaks, len(message.content)]
    blocks: list[dict[str, Any]] = []
    for number, (start, end) in enumerate(itertools.pairwise(cuts)):
        if end > start:
            blocks.append({"type": "text", "text": message.content[start:end]})
            if number < len(cuts) - 2 and number < marks:
                blocks[-1]["cache_control"] = CACHE_CONTROL
    return blocks


def split_messages(messages: Sequence[Message], *, cache: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, turns): system messages joined; consecutive same-role turns merged,
    since the API rejects two user (or assistant) turns in a row and a leading assistant turn.
    With `cache`, each turn is a list of text blocks, marked for the prompt cache where the
    messages' stable stretches end (`Message.breaks`), after the one mark the system takes."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    marks = MAX_BREAKPOINTS - 1
    for message in messages:
        if message.role == "system":
            continue
        content: Any = message.content
        if cache:
            content = _blocks(message, marks)
            marks -= sum("cache_control" in block for block in content)
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += content if cache else "\n\n" + content
        else:
            turns.append({"role": message.role, "content": content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "Continue."}] if cache else "Continue."})
    return system, turns


class AnthropicProvider:
    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 120.0,
        http_client: Any = None,
        *,
        name: str = "anthropic",
        key_variable: str = "ANTHROPIC_API_KEY",
    ):
        # the SDK loads only when a provider is built: the registry imports this module at start-up
        import anthropic

        self._sdk = anthropic
        self.name = name
        self.model = model
        self.base_url = base_url
        self._key = api_key
        self._key_variable = key_variable
        self.where = base_url or ANTHROPIC_HOST
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )
        # Anthropic SDK 2.x dropped `temperature` from messages.create; older ones accept it.
        self.takes_temperature = "temperature" in inspect.signature(self._client.messages.create).parameters

    def request(self, messages: Sequence[Message], *, max_tokens: int, temperature: float, json_mode: bool) -> dict[str, Any]:
        """The keyword arguments of `messages.create` for this call. A prompt laid out for the
        cache (stable stretches marked, see `prompts`) is sent as blocks marked where they end,
        the system part first: Anthropic caches only on request."""
        cache = any(m.breaks for m in messages)
        system, turns = split_messages(messages, cache=cache)
        if json_mode:
            system = f"{system}\n\n{JSON_INSTRUCTION}" if system else JSON_INSTRUCTION
        params: dict[str, Any] = {
            "model": self.model,
            "messages": turns,
            "max_tokens": max_tokens,
        }
        if self.takes_temperature:
            params["temperature"] = temperature
        if system:
            params["system"] = [{"type": "text", "text": system, "cache_control": CACHE_CONTROL}] if cache else system
        return params

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_mode: bool,
        call: str,
    ) -> Completion:
        params = self.request(messages, max_tokens=max_tokens, temperature=temperature, json_mode=json_mode)
        try:
            response = await self._client.messages.create(**params)
        except self._sdk.AnthropicError as exc:
            raise await not_found(self._client, exc, self._translate(exc), secrets=[self._key]) from None
        return self._parse(response, messages, call)

    async def served_models(self) -> list[str]:
        """Every model the key may use (`/v1/models`); LLMError, keys hidden, when it does not answer."""
        try:
            return await model_ids(self._client)
        except self._sdk.AnthropicError as exc:
            raise listing_error(exc, self._translate(exc), provider=self.name, where=self.where) from None

    def _translate(self, exc: Exception) -> LLMError:
        return translate(
            exc,
            self._sdk,
            provider=self.name,
            model=self.model,
            where=self.where,
            key_variable=self._key_variable,
            secrets=[self._key],
        )

    def _parse(self, response: Any, messages: Sequence[Message], call: str) -> Completion:
        blocks = getattr(response, "content", None)
        if blocks is None:
            raise LLMError(redact(f"{self.name}: the reply to '{call}' from {self.where} has no content", extra=[self._key]))
        text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", None) == "text")
        if getattr(response, "stop_reason", None) == "max_tokens":
            log.warning("%s: the reply to '%s' was cut off at the token limit", self.name, call)
        usage = getattr(response, "usage", None)
        if usage is not None and usage.input_tokens is not None and usage.output_tokens is not None:
            # input_tokens counts only the prompt after the last cache hit or write
            read = getattr(usage, "cache_read_input_tokens", None) or 0
            written = getattr(usage, "cache_creation_input_tokens", None) or 0
            counted = Usage(usage.input_tokens + read + written, usage.output_tokens,
                            cached_input_tokens=read, cache_write_tokens=written)
        else:
            counted = estimate_usage(messages, text)
        return Completion(text=text, usage=counted, model=getattr(response, "model", None) or self.model, provider=self.name)

    async def aclose(self) -> None:
        await self._client.close()


ANTHROPIC = ProviderSpec(
    name="anthropic",
    build=sdk_build(AnthropicProvider),
    # a current model with a list price, so a dollar budget holds
    default_model="claude-sonnet-4-6",
    key_variables=("ANTHROPIC_API_KEY", "CLAUDE_API_KEY"),
    sdk="anthropic",
    # (input, output, cache read, 5-minute cache write) in USD per million tokens: cache reads cost
    # 0.1x and 5-minute cache writes 1.25x the input price, as published on
    # https://docs.anthropic.com/en/docs/about-claude/pricing (prompt caching); every row checked against
    # the copy of that table at https://docs.electronhub.ai/guides/prompt-caching (4.6 models: the same
    # price as their 4.5 namesakes, https://claudecodeguides.com/claude-prompt-caching-pricing-and-cost-savings/)
    prices={
        "claude-3-haiku": Price(0.25, 1.25, 0.03, 0.30),
        "claude-3-opus": Price(15.00, 75.00, 1.50, 18.75),
        "claude-3-5-haiku": Price(0.80, 4.00, 0.08, 1.00),
        "claude-3-5-sonnet": Price(3.00, 15.00, 0.30, 3.75),
        "claude-3-7-sonnet": Price(3.00, 15.00, 0.30, 3.75),
        "claude-haiku-4-5": Price(1.00, 5.00, 0.10, 1.25),
        "claude-sonnet-4": Price(3.00, 15.00, 0.30, 3.75),
        "claude-sonnet-4-5": Price(3.00, 15.00, 0.30, 3.75),
        "claude-sonnet-4-6": Price(3.00, 15.00, 0.30, 3.75),
        "claude-opus-4": Price(15.00, 75.00, 1.50, 18.75),
        "claude-opus-4-1": Price(15.00, 75.00, 1.50, 18.75),
        "claude-opus-4-5": Price(5.00, 25.00, 0.50, 6.25),
        "claude-opus-4-6": Price(5.00, 25.00, 0.50, 6.25),
    },
)
