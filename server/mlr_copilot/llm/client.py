"""`LLM`: the one object the phases call. It retries transient failures with backoff, charges
every call to the ledger, refuses a call the budget cannot cover, and turns replies into
validated pydantic models (with one corrective retry)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlr_copilot.llm.accounting import Ledger
from mlr_copilot.llm.base import (
    Completion,
    LLMError,
    MalformedReplyError,
    Message,
    Provider,
    TransientLLMError,
    Usage,
    estimate_tokens,
)
from mlr_copilot.llm.redaction import redact
from mlr_copilot.untrusted import has_surrogate, one_line, scrub

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_SCHEMA_NOISE = ("title",)
_MAX_PROBLEMS = 8
# Where a reply's JSON may start: enough for prose or fences around it, few enough that a
# reply of a million "{" costs no more than a normal one.
_MAX_JSON_STARTS = 64


def schema_hint(schema: type[BaseModel]) -> str:
    """The JSON schema of `schema` as compact JSON, without titles (they only cost tokens)."""

    def clean(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, dict):
            return {
                key: clean(value, in_properties=(key == "properties" and not in_properties))
                for key, value in node.items()
                # Under "properties" the keys are field names: a field called "title" stays.
                if in_properties or key not in _SCHEMA_NOISE
            }
        if isinstance(node, list):
            return [clean(item) for item in node]
        return node

    return json.dumps(clean(schema.model_json_schema()), separators=(",", ":"), ensure_ascii=False)


def extract_json(text: str) -> Any:
    """The JSON object in a reply, tolerating code fences and prose around it. ValueError
    when there is none, or when it nests deeper than Python's parser can follow."""
    try:
        return _extract_json(text.strip())
    except RecursionError:
        raise ValueError("the JSON nests too deeply to be read; reply with a flat JSON object") from None


def _extract_json(stripped: str) -> Any:
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    # Fenced blocks first (```json ... ```), then any "{" in the text.
    candidates: list[int] = []
    for marker in ("```json", "```JSON", "```"):
        start = stripped.find(marker)
        if start >= 0:
            brace = stripped.find("{", start + len(marker))
            if brace >= 0:
                candidates.append(brace)
    index = stripped.find("{")
    while index >= 0 and len(candidates) < _MAX_JSON_STARTS:
        candidates.append(index)
        index = stripped.find("{", index + 1)
    for start in dict.fromkeys(candidates):
        try:
            value, _ = decoder.raw_decode(stripped, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("no JSON object found in the reply")


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:_MAX_PROBLEMS]:
        loc = ".".join(str(part) for part in err["loc"]) or "(root)"
        # the location holds the reply's own keys: one line, control characters visible
        problems.append(one_line(f"{loc}: {err['msg']}"))
    more = len(exc.errors()) - _MAX_PROBLEMS
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)


def _strings(data: Any) -> Iterator[str]:
    """Every string in parsed JSON, keys included, without recursion (the data may be deep)."""
    pending = [data]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def parse_reply(text: str, schema: type[T]) -> T:
    """`text` as a `schema` instance; ValueError with a short description of what is wrong."""
    data = extract_json(text)
    if any(has_surrogate(value) for value in _strings(data)):
        # a "\ud800" escape decodes to half a character, which can be neither saved nor shown
        raise ValueError("a string holds a lone UTF-16 surrogate escape (such as \\ud800); write the characters themselves")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None
    except RecursionError:
        raise ValueError("the JSON nests too deeply to be validated; reply with the schema's shape") from None


class LLM:
    def __init__(
        self,
        provider: Provider,
        ledger: Ledger | None = None,
        *,
        max_tokens: int = 4096,
        temperature: float = 0.2,
        max_retries: int = 4,
        retry_base: float = 1.0,
        retry_max: float = 60.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ):
        self.provider = provider
        self.ledger = ledger if ledger is not None else Ledger()
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_retries = max_retries
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._sleep = sleep
        self._jitter = jitter

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry number `attempt + 1`: doubling with up to 25% jitter, never
        sooner than the server asked, never longer than `retry_max`."""
        delay = self.retry_base * (2.0**attempt) * (1 + 0.25 * self._jitter())
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.retry_max)

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        task: str,
        call: str,
        json_mode: bool = False,
        max_tokens: int | None = None,
    ) -> Completion:
        """One model call with retries and accounting. Before each attempt the budget is checked
        against the call's worst case: its estimated prompt and its whole output cap."""
        limit = max_tokens or self.max_tokens
        upcoming = Usage(sum(estimate_tokens(m.content) for m in messages), limit, estimated=True)
        attempt = 0
        while True:
            self.ledger.check_budget(self.provider.model, upcoming)
            try:
                completion = await self.provider.complete(
                    messages,
                    max_tokens=limit,
                    temperature=self.temperature,
                    json_mode=json_mode,
                    call=call,
                )
            except TransientLLMError as exc:
                reason = redact(str(exc))
                if attempt >= self.max_retries:
                    raise LLMError(
                        f"The model call '{call}' failed after {attempt + 1} attempts: {reason}. "
                        "Check the network and the provider's status, then try again."
                    ) from None
                delay = self.backoff(attempt, exc.retry_after)
                log.warning("'%s' attempt %d failed (%s); retrying in %.1fs", call, attempt + 1, reason, delay)
                await self._sleep(delay)
                attempt += 1
                continue
            self.ledger.charge(task, completion.provider, completion.model, completion.usage)
            # Reply text is saved and shown: half a character (a lone surrogate) would break both.
            completion = dataclasses.replace(completion, text=scrub(completion.text))
            log.debug(
                "'%s' for %s: %d in / %d out tokens",
                call,
                task,
                completion.usage.input_tokens,
                completion.usage.output_tokens,
            )
            return completion

    async def text(self, messages: Sequence[Message], *, task: str, call: str) -> str:
        return (await self.complete(messages, task=task, call=call)).text

    async def structured(self, messages: Sequence[Message], schema: type[T], *, task: str, call: str) -> T:
        """The reply as a validated `schema`; one retry shows the model its validation error."""
        messages = list(messages)
        # OpenAI's JSON mode refuses a conversation that never mentions JSON.
        if not any("json" in m.content.lower() for m in messages):
            messages.append(Message.user(f"Reply with only a JSON object matching this schema: {schema_hint(schema)}"))
        completion = await self.complete(messages, task=task, call=call, json_mode=True)
        try:
            return parse_reply(completion.text, schema)
        except ValueError as exc:
            problem = str(exc)
        log.info("the reply to '%s' did not validate (%s); asking again", call, redact(problem))
        log.debug("rejected reply to '%s': %s", call, redact(completion.text))
        retry = [
            *messages,
            # Anthropic rejects an empty assistant turn.
            Message.assistant(completion.text or "(empty reply)"),
            Message.user(f"Your reply did not validate: {problem}\nReply again with only the JSON object."),
        ]
        completion = await self.complete(retry, task=task, call=call, json_mode=True)
        try:
            return parse_reply(completion.text, schema)
        except ValueError as exc:
            log.debug("rejected reply to '%s': %s", call, redact(completion.text))
            raise MalformedReplyError(call, redact(str(exc))) from None

    async def aclose(self) -> None:
        close = getattr(self.provider, "aclose", None)
        if close is not None:
            await close()
