"""Replay recorded replies from a JSONL script, and record real sessions into that format.

One record per line:
    {"call": "ideas.propose", "response": "text" | {...}, "expect": ["substring"], "usage": {...}}
A call takes the next unused record with its name, so flows interleave in one file and records
of the same call are used in order. Any mismatch fails loudly, naming the call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlr_copilot.llm.base import (
    Completion,
    LLMError,
    Message,
    Provider,
    ScriptError,
    Usage,
    estimate_usage,
)
from mlr_copilot.llm.spec import ProviderOptions, ProviderSpec
from mlr_copilot.state import append_jsonl


class ScriptRecord:
    __slots__ = ("call", "expect", "line", "response", "usage", "used")

    def __init__(self, line: int, call: str, response: str, expect: list[str], usage: Usage | None):
        self.line = line
        self.call = call
        self.response = response
        self.expect = expect
        self.usage = usage
        self.used = False


def _parse_record(path: Path, number: int, line: str) -> ScriptRecord:
    where = f"{path}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ScriptError(f"{where}: not a JSON object ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ScriptError(f"{where}: each line must be a JSON object with 'call' and 'response'")
    call = data.get("call")
    if not isinstance(call, str) or not call:
        raise ScriptError(f"{where}: 'call' must be a non-empty string")
    if "response" not in data:
        raise ScriptError(f"{where}: record for call '{call}' has no 'response'")
    response = data["response"]
    if not isinstance(response, str):
        response = json.dumps(response, ensure_ascii=False)
    expect = data.get("expect", [])
    if not isinstance(expect, list) or not all(isinstance(e, str) for e in expect):
        raise ScriptError(f"{where}: 'expect' of call '{call}' must be a list of strings")
    usage = None
    if "usage" in data:
        raw = data["usage"]
        try:
            usage = Usage(int(raw["input_tokens"]), int(raw["output_tokens"]))
        except (TypeError, KeyError, ValueError):
            raise ScriptError(f"{where}: 'usage' of call '{call}' needs integer input_tokens and output_tokens") from None
    return ScriptRecord(number, call, response, expect, usage)


def load_script(path: Path) -> list[ScriptRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(f"The LLM script {path} does not exist (llm.script)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"The LLM script {path} could not be read: {exc}") from None
    return [
        _parse_record(path, number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


class ScriptedProvider:
    name = "scripted"

    def __init__(self, path: Path | str, model: str = "scripted"):
        self.path = Path(path)
        self.model = model
        self._records = load_script(self.path)
        self._lock = threading.Lock()

    def remaining(self) -> dict[str, int]:
        """Unused records per call name: a finished flow should leave none behind."""
        with self._lock:
            counts: dict[str, int] = {}
            for record in self._records:
                if not record.used:
                    counts[record.call] = counts.get(record.call, 0) + 1
            return counts

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_mode: bool,
        call: str,
    ) -> Completion:
        with self._lock:
            record = next((r for r in self._records if r.call == call and not r.used), None)
            if record is None:
                total = sum(1 for r in self._records if r.call == call)
                raise ScriptError(
                    f"The LLM script {self.path} has no reply left for call '{call}' "
                    f"({total} recorded, all used)"
                )
            prompt = "\n".join(m.content for m in messages)
            for wanted in record.expect:
                if wanted not in prompt:
                    raise ScriptError(
                        f"{self.path}:{record.line}: the request for call '{call}' does not contain "
                        f"the expected text {wanted!r}"
                    )
            record.used = True
        usage = record.usage or estimate_usage(messages, record.response)
        return Completion(text=record.response, usage=usage, model=self.model, provider=self.name)


def _build(options: ProviderOptions) -> ScriptedProvider:
    if options.script is None:
        raise LLMError("The scripted provider needs llm.script (or MLR_SCRIPT): a JSONL file of replies")
    return ScriptedProvider(options.script, model=options.model)


# Recorded replies: no key, no network, no SDK (the demo and the end-to-end tests).
SCRIPTED = ProviderSpec(name="scripted", build=_build, default_model="scripted")


class RecordingProvider:
    """Wraps a real provider and appends each call to a JSONL script that replays it."""

    def __init__(self, inner: Provider, path: Path | str):
        self.inner = inner
        self.path = Path(path)
        self.name = inner.name
        self.model = inner.model
        self._lock = threading.Lock()

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_mode: bool,
        call: str,
    ) -> Completion:
        completion = await self.inner.complete(
            messages, max_tokens=max_tokens, temperature=temperature, json_mode=json_mode, call=call
        )
        record: dict[str, Any] = {
            "call": call,
            "response": completion.text,
            "usage": {"input_tokens": completion.usage.input_tokens, "output_tokens": completion.usage.output_tokens},
            "model": completion.model,
            "provider": completion.provider,
        }
        with self._lock:
            append_jsonl(self.path, record)
        return completion

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
