"""Anthropic Messages API. The system prompt goes top-level, turns must alternate, and JSON
mode is an instruction (the API has no JSON switch; `LLM.structured` extracts the object)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

from mlr_copilot.llm.base import Completion, LLMError, Message, Usage, estimate_usage
from mlr_copilot.llm.model_list import listing_error, model_ids, not_found
from mlr_copilot.llm.redaction import redact
from mlr_copilot.llm.sdk_errors import translate
from mlr_copilot.llm.spec import ProviderSpec, sdk_build

log = logging.getLogger(__name__)

ANTHROPIC_HOST = "https://api.anthropic.com"
JSON_INSTRUCTION = "Reply with only a single JSON object: no prose before or after it, no code fences."


def split_messages(messages: Sequence[Message]) -> tuple[str, list[dict[str, str]]]:
    """(system prompt, turns): system messages joined; consecutive same-role turns merged,
    since the API rejects two user (or assistant) turns in a row and a leading assistant turn."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "Continue."})
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
        """The keyword arguments of `messages.create` for this call."""
        system, turns = split_messages(messages)
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
            params["system"] = system
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
            counted = Usage(usage.input_tokens, usage.output_tokens)
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
    prices={
        "claude-3-haiku": (0.25, 1.25),
        "claude-3-opus": (15.00, 75.00),
        "claude-3-5-haiku": (0.80, 4.00),
        "claude-3-5-sonnet": (3.00, 15.00),
        "claude-3-7-sonnet": (3.00, 15.00),
        "claude-haiku-4-5": (1.00, 5.00),
        "claude-sonnet-4": (3.00, 15.00),
        "claude-sonnet-4-5": (3.00, 15.00),
        "claude-sonnet-4-6": (3.00, 15.00),
        "claude-opus-4": (15.00, 75.00),
        "claude-opus-4-1": (15.00, 75.00),
        "claude-opus-4-5": (5.00, 25.00),
        "claude-opus-4-6": (5.00, 25.00),
    },
)
