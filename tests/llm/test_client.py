from __future__ import annotations

import itertools
import json
import logging

import pytest
from pydantic import BaseModel, Field

from mlr_copilot.llm.accounting import Ledger
from mlr_copilot.llm.anthropic_provider import AnthropicProvider
from mlr_copilot.llm.base import BudgetExceededError, LLMError, MalformedReplyError, Message
from mlr_copilot.llm.client import LLM, extract_json, schema_hint
from mlr_copilot.llm.openai_provider import OpenAIProvider

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, anthropic_body, http, openai_body, openai_error


class Hypothesis(BaseModel):
    title: str
    score: float = Field(ge=0, le=1)
    steps: list[str]


GOOD = {"title": "Warmup helps", "score": 0.7, "steps": ["add warmup", "compare loss"]}
PROMPT = [Message.system("You propose hypotheses."), Message.user("Propose one hypothesis as JSON.")]


def openai_llm(server, ledger=None, sleep=None, model="gpt-4o-mini", **kwargs) -> LLM:
    provider = OpenAIProvider(model, OPENAI_KEY, http_client=server.client())
    extra = {"sleep": sleep} if sleep else {}
    return LLM(provider, ledger or Ledger(), max_tokens=300, temperature=0.2, jitter=lambda: 0.5, **extra, **kwargs)


async def test_structured_reply_is_parsed_into_the_model(server, clean_env):
    server.reply(body=openai_body(json.dumps(GOOD)))
    llm = openai_llm(server)
    result = await llm.structured(PROMPT, Hypothesis, task="ideas", call="ideas.propose")
    assert result == Hypothesis(**GOOD)
    body = server.body()
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_completion_tokens"] == 300
    # The prompt already mentions JSON, so nothing is appended.
    assert len(body["messages"]) == 2


async def test_structured_adds_the_schema_when_the_prompt_never_mentions_json(server, clean_env):
    server.reply(body=openai_body(json.dumps(GOOD)))
    await openai_llm(server).structured([Message.user("Propose one hypothesis.")], Hypothesis, task="ideas", call="c")
    last = server.body()["messages"][-1]["content"]
    assert "JSON" in last and '"steps"' in last


async def test_structured_tolerates_fences_and_prose_with_anthropic(server, clean_env):
    reply = "Here is my answer:\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nHope that helps {really}."
    server.reply(body=anthropic_body(reply))
    provider = AnthropicProvider("claude-3-5-haiku-latest", ANTHROPIC_KEY, http_client=server.client())
    result = await LLM(provider).structured(PROMPT, Hypothesis, task="ideas", call="ideas.propose")
    assert result.title == "Warmup helps"


def test_extract_json_variants():
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Sure! {"a": {"b": [1, 2]}} trailing') == {"a": {"b": [1, 2]}}
    assert extract_json("```\n{\"a\": 2}\n```") == {"a": 2}
    assert extract_json('note {not json} then {"a": 3}') == {"a": 3}
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("no braces here")


def test_schema_hint_is_compact_and_keeps_a_field_named_title():
    hint = schema_hint(Hypothesis)
    schema = json.loads(hint)
    assert " " not in hint.replace("add warmup", "")
    assert set(schema["properties"]) == {"title", "score", "steps"}
    assert "title" not in schema and "title" not in schema["properties"]["score"]
    assert schema["required"] == ["title", "score", "steps"]


async def test_malformed_reply_is_retried_once_with_the_validation_error(server, clean_env):
    server.reply(body=openai_body('{"title": "x", "score": 3, "steps": []}'))
    server.reply(body=openai_body(json.dumps(GOOD)))
    result = await openai_llm(server).structured(PROMPT, Hypothesis, task="ideas", call="ideas.propose")
    assert result.score == 0.7
    second = server.body(1)["messages"]
    assert second[-2] == {"role": "assistant", "content": '{"title": "x", "score": 3, "steps": []}'}
    assert second[-1]["role"] == "user"
    assert second[-1]["content"].startswith("Your reply did not validate: score:")
    assert "less than or equal to 1" in second[-1]["content"]
    assert second[-1]["content"].endswith("Reply again with only the JSON object.")


async def test_two_malformed_replies_raise_naming_the_call(server, clean_env):
    server.reply(body=openai_body("I cannot do that."))
    server.reply(body=openai_body('{"title": "x"}'))
    ledger = Ledger()
    with pytest.raises(MalformedReplyError) as caught:
        await openai_llm(server, ledger).structured(PROMPT, Hypothesis, task="ideas", call="ideas.propose")
    assert caught.value.call == "ideas.propose"
    assert "ideas.propose" in str(caught.value) and "score: Field required" in str(caught.value)
    assert "no JSON object" in server.body(1)["messages"][-1]["content"]
    assert ledger.snapshot()["calls"] == 2


@pytest.mark.parametrize("hostile, problem", [
    ('{"title": ' * 100_000, "nests too deeply"),
    ('{"title": "x", "score": 0.5, "steps": ' + "[" * 50_000 + "]" * 50_000 + "}", "nests too deeply"),
    ('{"title": "Warm\\ud800up", "score": 0.5, "steps": ["a"]}', "lone UTF-16 surrogate"),
    ('{"title": "x", "score": 0.5, "steps": ["a"], "\\udfff": 1}', "lone UTF-16 surrogate"),
    ("{" * 1_000_000, "no JSON object"),
])
async def test_a_hostile_reply_is_a_validation_error_then_retried(server, clean_env, hostile, problem):
    server.reply(body=openai_body(hostile))
    server.reply(body=openai_body(json.dumps(GOOD)))
    result = await openai_llm(server).structured(PROMPT, Hypothesis, task="ideas", call="ideas.propose")
    assert result == Hypothesis(**GOOD)
    assert problem in server.body(1)["messages"][-1]["content"]


async def test_two_hostile_replies_are_one_clear_line(server, clean_env):
    server.reply(body=openai_body('{"title": ' * 100_000))
    server.reply(body=openai_body('{"title": "\\ud800", "score": 0.5, "steps": []}'))
    with pytest.raises(MalformedReplyError) as caught:
        await openai_llm(server).structured(PROMPT, Hypothesis, task="ideas", call="ideas.propose")
    assert "surrogate" in str(caught.value) and "\n" not in str(caught.value)


async def test_a_lone_surrogate_in_a_text_reply_becomes_a_replacement_character(server, clean_env):
    # as a server sends it: the escape in the JSON text, which the SDK decodes to half a character
    escaped = json.dumps(openai_body("SUMMARY: caf\ud800e")).encode("ascii")
    server.replies.append(http.Response(200, content=escaped, headers={"content-type": "application/json"}))
    text = await openai_llm(server).text(PROMPT, task="implement", call="implement.step")
    assert text == "SUMMARY: caf\ufffde"
    text.encode("utf-8")


async def test_rate_limit_and_server_error_are_retried_with_growing_backoff(server, clean_env, fake_sleep):
    server.reply(429, openai_error(429, "slow down", type_="requests"), headers={"retry-after": "3"})
    server.reply(500, openai_error(500, "oops", type_="server_error"))
    server.reply(503, openai_error(503, "busy", type_="server_error"))
    server.reply(body=openai_body("done"))
    llm = openai_llm(server, sleep=fake_sleep, max_retries=4, retry_base=1.0)
    assert await llm.text(PROMPT, task="ideas", call="ideas.chat") == "done"
    assert len(server.requests) == 4
    assert fake_sleep.delays[0] == 3.0  # the server's Retry-After beats the 1.125s backoff
    assert fake_sleep.delays[1:] == [2.25, 4.5]


async def test_backoff_with_random_jitter_still_grows(server, clean_env, fake_sleep):
    for _ in range(4):
        server.reply(500, openai_error(500, "oops", type_="server_error"))
    server.reply(body=openai_body("done"))
    provider = OpenAIProvider("gpt-4o-mini", OPENAI_KEY, http_client=server.client())
    llm = LLM(provider, max_retries=4, retry_base=0.5, sleep=fake_sleep)
    assert await llm.text(PROMPT, task="t", call="c") == "done"
    delays = fake_sleep.delays
    assert len(delays) == 4 and delays[0] >= 0.5
    assert all(later > earlier for earlier, later in itertools.pairwise(delays))


def test_backoff_is_capped():
    llm = LLM(provider=None, retry_base=1.0, retry_max=10.0, jitter=lambda: 1.0)  # type: ignore[arg-type]
    assert [llm.backoff(a, None) for a in range(5)] == [1.25, 2.5, 5.0, 10.0, 10.0]
    assert llm.backoff(0, 120.0) == 10.0


async def test_gives_up_after_max_retries_with_a_clear_error(server, clean_env, fake_sleep):
    for _ in range(3):
        server.reply(502, openai_error(502, "bad gateway", type_="server_error"))
    ledger = Ledger()
    llm = openai_llm(server, ledger, sleep=fake_sleep, max_retries=2)
    with pytest.raises(LLMError) as caught:
        await llm.text(PROMPT, task="ideas", call="ideas.chat")
    message = str(caught.value)
    assert "'ideas.chat' failed after 3 attempts" in message and "HTTP 502" in message
    assert len(server.requests) == 3 and len(fake_sleep.delays) == 2
    assert ledger.snapshot()["calls"] == 0


async def test_non_transient_errors_are_not_retried(server, clean_env, fake_sleep):
    server.reply(401, openai_error(401, "bad key", code="invalid_api_key"))
    with pytest.raises(LLMError, match="OPENAI_API_KEY was rejected"):
        await openai_llm(server, sleep=fake_sleep).text(PROMPT, task="t", call="c")
    assert len(server.requests) == 1 and fake_sleep.delays == []


async def test_every_call_is_charged_per_task_with_cost(server, clean_env):
    server.reply(body=openai_body("a", usage=(1000, 200)))
    server.reply(body=openai_body("b", usage=(3000, 800)))
    ledger = Ledger()
    llm = openai_llm(server, ledger)
    await llm.text(PROMPT, task="ideas", call="c1")
    await llm.text(PROMPT, task="implement:h1", call="c2")
    snap = ledger.snapshot()
    assert (snap["input_tokens"], snap["output_tokens"], snap["calls"]) == (4000, 1000, 2)
    # gpt-4o-mini: $0.15 in / $0.60 out per million tokens
    assert snap["tasks"]["ideas"]["cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    assert snap["cost_usd"] == pytest.approx((4000 * 0.15 + 1000 * 0.60) / 1e6)
    assert snap["tasks"]["implement:h1"]["input_tokens"] == 3000


async def test_budget_cap_lets_the_crossing_call_finish_and_refuses_the_next(server, clean_env):
    server.reply(body=openai_body("first", usage=(600, 100)))
    server.reply(body=openai_body("second", usage=(400, 100)))
    ledger = Ledger(budget_tokens=1000)
    llm = openai_llm(server, ledger)
    assert await llm.text(PROMPT, task="ideas", call="c") == "first"
    assert await llm.text(PROMPT, task="ideas", call="c") == "second"
    with pytest.raises(BudgetExceededError) as caught:
        await llm.text(PROMPT, task="ideas", call="c")
    assert "1200 tokens spent of a 1000-token budget" in str(caught.value)
    assert len(server.requests) == 2


async def test_dollar_budget(server, clean_env):
    server.reply(body=openai_body("x", model="gpt-4o", usage=(100_000, 10_000)))
    ledger = Ledger(budget_usd=0.25)
    llm = openai_llm(server, ledger, model="gpt-4o")
    await llm.text(PROMPT, task="t", call="c")  # $0.35
    with pytest.raises(BudgetExceededError, match=r"\$0.3500 spent of a \$0.25 budget"):
        await llm.text(PROMPT, task="t", call="c")


async def test_a_call_the_dollar_budget_cannot_cover_is_never_sent(server, clean_env):
    ledger = Ledger(budget_usd=0.0001)  # up to 300 output tokens of gpt-4o-mini cost $0.00018
    with pytest.raises(BudgetExceededError, match=r"could cost \$0.0002 \(12 prompt tokens and up to 300"):
        await openai_llm(server, ledger).text(PROMPT, task="t", call="c")
    assert server.requests == [] and ledger.snapshot()["calls"] == 0


async def test_key_never_reaches_errors_or_logs(server, clean_env, fake_sleep, caplog):
    clean_env.setenv("OPENAI_API_KEY", OPENAI_KEY)
    caplog.set_level(logging.DEBUG)
    echo = f"Incorrect API key provided: {OPENAI_KEY}"
    server.reply(503, openai_error(503, f"upstream rejected {OPENAI_KEY}", type_="server_error"))
    server.reply(body=openai_body(f"not json, and {OPENAI_KEY}"))
    server.reply(body=openai_body(f"still not json {OPENAI_KEY}"))
    server.reply(401, openai_error(401, echo, code="invalid_api_key"))
    llm = openai_llm(server, sleep=fake_sleep)
    with pytest.raises(MalformedReplyError) as malformed:
        await llm.structured(PROMPT, Hypothesis, task="t", call="c")
    with pytest.raises(LLMError) as rejected:
        await llm.text(PROMPT, task="t", call="c")
    assert "retrying" in caplog.text and "rejected reply" in caplog.text
    for text in (str(malformed.value), str(rejected.value), caplog.text):
        assert OPENAI_KEY not in text
    assert "Incorrect API key provided: ***" in str(rejected.value)
