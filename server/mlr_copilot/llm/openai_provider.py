"""OpenAI chat completions, for api.openai.com and OpenAI-compatible servers (vLLM, Ollama,
llama.cpp, LM Studio). The SDK's own retries are off: `LLM` retries, so the policy lives in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlr_copilot.llm.spec import Price, ProviderSpec, sdk_build

if TYPE_CHECKING:
    from mlr_copilot.llm.base import Completion, LLMError, Message

# What a call needs (the message records, error translation, logging) is imported by the methods
# that make one: `status` imports this module for the default model alone, at start-up.

OPENAI_HOST = "api.openai.com"
# Reasoning models take no temperature and count hidden reasoning in max_completion_tokens.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def is_reasoning_model(model: str) -> bool:
    name = model.rsplit("/", 1)[-1]
    return any(name == p or name.startswith(p + "-") for p in _REASONING_PREFIXES)


class OpenAIProvider:
    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 120.0,
        http_client: Any = None,
        *,
        name: str = "openai",
        json_mode: bool = True,
        key_variable: str = "OPENAI_API_KEY",
    ):
        # the SDK loads only when a provider is built: the registry imports this module at start-up
        import openai

        self._sdk = openai
        self.name = name
        self.model = model
        self.base_url = base_url
        # Servers that reject `response_format` get plain instructions instead (see complete()).
        self.json_mode = json_mode
        self._key = api_key
        self._key_variable = key_variable
        self._official = base_url is None or urlparse(base_url).hostname == OPENAI_HOST
        self.where = base_url or f"https://{OPENAI_HOST}/v1"
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )

    def request(self, messages: Sequence[Message], *, max_tokens: int, temperature: float, json_mode: bool) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` for this call."""
        params: dict[str, Any] = {"model": self.model, "messages": [m.to_dict() for m in messages]}
        # api.openai.com deprecated max_tokens (reasoning models reject it); local servers know only max_tokens.
        params["max_completion_tokens" if self._official else "max_tokens"] = max_tokens
        if not is_reasoning_model(self.model):
            params["temperature"] = temperature
        if json_mode and self.json_mode:
            params["response_format"] = {"type": "json_object"}
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
        import logging

        params = self.request(messages, max_tokens=max_tokens, temperature=temperature, json_mode=json_mode)
        try:
            response = await self._client.chat.completions.create(**params)
        except self._sdk.BadRequestError as exc:
            if "response_format" not in params or self._official or "response_format" not in str(exc):
                raise await self._error(exc) from None
            logging.getLogger(__name__).warning("%s at %s does not support JSON mode; asking in the prompt instead", self.name, self.where)
            self.json_mode = False
            params.pop("response_format")
            try:
                response = await self._client.chat.completions.create(**params)
            except self._sdk.OpenAIError as retry_exc:
                raise await self._error(retry_exc) from None
        except self._sdk.OpenAIError as exc:
            raise await self._error(exc) from None
        return self._parse(response, messages, call)

    async def served_models(self) -> list[str]:
        """Every model the endpoint lists (`/v1/models`); LLMError, keys hidden, when it does not answer."""
        from mlr_copilot.llm.model_list import listing_error, model_ids

        try:
            return await model_ids(self._client)
        except self._sdk.OpenAIError as exc:
            raise listing_error(exc, self._translate(exc), provider=self.name, where=self.where) from None

    async def _error(self, exc: Exception) -> LLMError:
        from mlr_copilot.llm.model_list import not_found

        # a local server lists what it serves; api.openai.com lists audio and image models too
        return await not_found(self._client, exc, self._translate(exc), chat_only=self._official, secrets=[self._key])

    def _translate(self, exc: Exception) -> LLMError:
        from mlr_copilot.llm.sdk_errors import translate

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
        import logging

        from mlr_copilot.llm.base import Completion, LLMError, Usage, estimate_usage
        from mlr_copilot.llm.redaction import redact

        choices = getattr(response, "choices", None) or []
        if not choices:
            raise LLMError(redact(f"{self.name}: the reply to '{call}' from {self.where} has no choices", extra=[self._key]))
        choice = choices[0]
        text = (choice.message.content if choice.message else None) or ""
        if choice.finish_reason == "length":
            logging.getLogger(__name__).warning("%s: the reply to '%s' was cut off at the token limit", self.name, call)
        usage = getattr(response, "usage", None)
        if usage is not None and usage.prompt_tokens is not None and usage.completion_tokens is not None:
            # prompt_tokens counts the cached ones too; servers other than OpenAI often send no details
            details = getattr(usage, "prompt_tokens_details", None)
            cached = getattr(details, "cached_tokens", None) or 0
            counted = Usage(usage.prompt_tokens, usage.completion_tokens, cached_input_tokens=cached)
        else:
            counted = estimate_usage(messages, text)
        return Completion(text=text, usage=counted, model=getattr(response, "model", None) or self.model, provider=self.name)

    async def aclose(self) -> None:
        await self._client.close()


OPENAI = ProviderSpec(
    name="openai",
    build=sdk_build(OpenAIProvider),
    # a current model with a list price, so a dollar budget holds
    default_model="gpt-5-mini",
    key_variables=("OPENAI_API_KEY",),
    sdk="openai",
    # (input, output, cached input) in USD per million tokens, as published on
    # https://openai.com/api/pricing/ ("Cached input"); gpt-4-turbo and gpt-3.5-turbo have no cached price.
    # The cached prices were checked against pages that copy that table (gpt-5 family: cached = 10% of
    # input, https://crazyrouter.com/en/blog/gpt-5-pricing and https://cloudprice.net/models/artificialanalysis/gpt-5-nano-medium;
    # gpt-4.1-nano https://llmpricing.site/models/openai/openai-gpt-4-1-nano/; o3-mini https://llmcalc.app/models/o3-mini/)
    prices={
        "gpt-5": Price(1.25, 10.00, 0.125),
        "gpt-5-mini": Price(0.25, 2.00, 0.025),
        "gpt-5-nano": Price(0.05, 0.40, 0.005),
        "gpt-4.1": Price(2.00, 8.00, 0.50),
        "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
        "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
        "gpt-4o": Price(2.50, 10.00, 1.25),
        "gpt-4o-mini": Price(0.15, 0.60, 0.075),
        "gpt-4-turbo": Price(10.00, 30.00),
        "gpt-3.5-turbo": Price(0.50, 1.50),
        "o1": Price(15.00, 60.00, 7.50),
        "o1-mini": Price(1.10, 4.40, 0.55),
        "o3": Price(2.00, 8.00, 0.50),
        "o3-mini": Price(1.10, 4.40, 0.55),
        "o4-mini": Price(1.10, 4.40, 0.275),
    },
)

# Local models through vLLM, Ollama, llama.cpp or LM Studio: unpriced, the key optional.
OPENAI_COMPATIBLE = ProviderSpec(
    name="openai-compatible",
    build=sdk_build(OpenAIProvider),
    default_model="llama3.1",
    key_variables=("OPENAI_API_KEY",),
    key_optional=True,
    sdk="openai",
    needs_base_url=True,
    base_url_example="http://localhost:11434/v1 for Ollama or http://localhost:8000/v1 for vLLM",
)
