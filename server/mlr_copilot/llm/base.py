"""The shapes every provider speaks: messages in, a completion with its token usage out, and
the errors a caller can tell apart (retry, give up, fix the setup)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from mlr_copilot.errors import MlrError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    # Offsets in `content` where a stretch that stays the same from call to call ends (see
    # `prompts`): a provider that caches a prompt's prefix only on request (Anthropic) marks
    # them; the text sent is the same either way.
    breaks: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls("assistant", content)


@dataclass(frozen=True)
class Usage:
    # every prompt token, those served from or written to the provider's prefix cache included
    input_tokens: int
    output_tokens: int
    # True when the server reported no usage and the counts are guessed from text length.
    estimated: bool = False
    # of `input_tokens`: read from the provider's prefix cache, and written to it (Anthropic)
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    model: str
    provider: str


@runtime_checkable
class Provider(Protocol):
    name: str
    model: str

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_mode: bool,
        call: str,
    ) -> Completion: ...


@runtime_checkable
class ModelLister(Protocol):
    """A provider whose endpoint lists the models it serves (the SDK's `models.list`)."""

    name: str
    model: str
    # the endpoint, for messages
    where: str

    async def served_models(self) -> list[str]: ...


def estimate_tokens(text: str) -> int:
    """About four characters per token: close enough for accounting when a server is silent."""
    return len(text) // 4


def estimate_usage(messages: Sequence[Message], reply: str) -> Usage:
    return Usage(
        input_tokens=sum(estimate_tokens(m.content) for m in messages),
        output_tokens=estimate_tokens(reply),
        estimated=True,
    )


class LLMError(MlrError):
    """A model call failed in a way retrying will not fix."""


class MissingKeyError(LLMError):
    """No API key for the chosen provider; the message names the variable to set."""


class BudgetExceededError(LLMError):
    """The session spent its token or dollar budget; no further calls are made."""


class MalformedReplyError(LLMError):
    """The model's reply did not parse or validate, even after one corrective retry."""

    def __init__(self, call: str, problem: str):
        self.call = call
        self.problem = problem
        super().__init__(f"The reply to '{call}' did not validate: {problem}")


class TransientLLMError(LLMError):
    """A failure worth retrying (server error, timeout, dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)


class RateLimitedError(TransientLLMError):
    """HTTP 429: retry after the delay the server asked for."""


class ScriptError(LLMError):
    """The scripted provider's file is malformed or does not match the calls made."""
