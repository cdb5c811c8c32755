from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from mlr_copilot.llm.accounting import Ledger
from mlr_copilot.llm.base import Message, ScriptError
from mlr_copilot.llm.client import LLM
from mlr_copilot.llm.openai_provider import OpenAIProvider
from mlr_copilot.llm.scripted import RecordingProvider, ScriptedProvider

from .conftest import OPENAI_KEY, openai_body


class Plan(BaseModel):
    steps: list[str]


def write_script(path: Path, *records: dict | str) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_replay_text_and_structured(tmp_path):
    script = write_script(
        tmp_path / "s.jsonl",
        {"call": "ideas.summary", "response": "A paper about warmup.", "usage": {"input_tokens": 50, "output_tokens": 6}},
        {"call": "implement.plan", "response": {"steps": ["edit train.py", "run"]}},
    )
    ledger = Ledger()
    llm = LLM(ScriptedProvider(script), ledger)
    assert await llm.text([Message.user("Summarise")], task="ideas", call="ideas.summary") == "A paper about warmup."
    plan = await llm.structured([Message.user("Plan as JSON")], Plan, task="implement:h1", call="implement.plan")
    assert plan.steps == ["edit train.py", "run"]
    snap = ledger.snapshot()
    assert snap["tasks"]["ideas"]["input_tokens"] == 50
    assert snap["tasks"]["implement:h1"]["estimated_calls"] == 1
    assert snap["cost_usd"] is None


async def test_interleaved_calls_match_by_name_in_order(tmp_path):
    script = write_script(
        tmp_path / "s.jsonl",
        {"call": "a", "response": "a1"},
        {"call": "b", "response": "b1"},
        {"call": "a", "response": "a2"},
        {"call": "b", "response": "b2"},
    )
    provider = ScriptedProvider(script)
    llm = LLM(provider)
    order = [("b", "b1"), ("b", "b2"), ("a", "a1"), ("a", "a2")]
    for call, expected in order:
        assert await llm.text([Message.user("x")], task="t", call=call) == expected
    assert provider.remaining() == {}


async def test_exhausted_script_names_the_call(tmp_path):
    script = write_script(tmp_path / "s.jsonl", {"call": "ideas.rank", "response": "1"})
    llm = LLM(ScriptedProvider(script))
    await llm.text([Message.user("x")], task="t", call="ideas.rank")
    with pytest.raises(ScriptError, match="no reply left for call 'ideas.rank' \\(1 recorded, all used\\)"):
        await llm.text([Message.user("x")], task="t", call="ideas.rank")
    with pytest.raises(ScriptError, match="call 'never.recorded' \\(0 recorded"):
        await llm.text([Message.user("x")], task="t", call="never.recorded")


async def test_expect_mismatch_names_the_substring_and_call(tmp_path):
    script = write_script(
        tmp_path / "s.jsonl", {"call": "fix", "response": "ok", "expect": ["Traceback", "ZeroDivisionError"]}
    )
    provider = ScriptedProvider(script)
    with pytest.raises(ScriptError) as caught:
        await provider.complete(
            [Message.user("Traceback (most recent call last): KeyError")], max_tokens=10, temperature=0, json_mode=False, call="fix"
        )
    assert "'ZeroDivisionError'" in str(caught.value) and "call 'fix'" in str(caught.value)
    assert "s.jsonl:1" in str(caught.value)
    # The failed match does not consume the record.
    assert provider.remaining() == {"fix": 1}


@pytest.mark.parametrize(
    "bad,problem",
    [
        ('{"call": "a", "response": ', "not a JSON object"),
        ('["a", "b"]', "must be a JSON object"),
        ('{"response": "x"}', "'call' must be a non-empty string"),
        ('{"call": "a"}', "has no 'response'"),
        ('{"call": "a", "response": "x", "expect": "one"}', "'expect' of call 'a'"),
        ('{"call": "a", "response": "x", "usage": {"input_tokens": 1}}', "'usage' of call 'a'"),
    ],
)
def test_malformed_line_names_the_line_number(tmp_path, bad, problem):
    script = write_script(tmp_path / "s.jsonl", {"call": "ok", "response": "fine"}, "", bad)
    with pytest.raises(ScriptError) as caught:
        ScriptedProvider(script)
    assert "s.jsonl:3: " in str(caught.value) and problem in str(caught.value)


def test_missing_script_file(tmp_path):
    with pytest.raises(ScriptError, match="nope.jsonl does not exist"):
        ScriptedProvider(tmp_path / "nope.jsonl")


async def test_recording_a_real_session_makes_a_replayable_script(tmp_path, server, clean_env):
    server.reply(body=openai_body("The method is sound.", usage=(30, 5)))
    server.reply(body=openai_body('{"steps": ["one"]}', usage=(40, 8)))
    path = tmp_path / "recorded.jsonl"
    real = OpenAIProvider("gpt-4o-mini", OPENAI_KEY, http_client=server.client())
    recorder = LLM(RecordingProvider(real, path))
    said = await recorder.text([Message.user("Review")], task="ideas", call="ideas.review")
    planned = await recorder.structured([Message.user("Plan as JSON")], Plan, task="impl", call="implement.plan")

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["call"] for line in lines] == ["ideas.review", "implement.plan"]
    assert lines[0]["usage"] == {"input_tokens": 30, "output_tokens": 5}
    assert OPENAI_KEY not in path.read_text()

    ledger = Ledger()
    replay = LLM(ScriptedProvider(path), ledger)
    assert await replay.text([Message.user("Review")], task="ideas", call="ideas.review") == said
    assert await replay.structured([Message.user("Plan as JSON")], Plan, task="impl", call="implement.plan") == planned
    assert ledger.snapshot()["input_tokens"] == 70
