from __future__ import annotations

import pytest

from mlr_copilot import prompts
from mlr_copilot.llm.accounting import cost_of
from mlr_copilot.llm.anthropic_provider import JSON_INSTRUCTION, AnthropicProvider, split_messages
from mlr_copilot.llm.base import LLMError, Message, RateLimitedError, TransientLLMError

from .conftest import ANTHROPIC_KEY, anthropic_body, anthropic_error


def provider(server, model="claude-3-5-sonnet-latest", **kwargs) -> AnthropicProvider:
    return AnthropicProvider(model, ANTHROPIC_KEY, http_client=server.client(), **kwargs)


async def complete(p, messages, json_mode=False):
    return await p.complete(messages, max_tokens=512, temperature=0.1, json_mode=json_mode, call="test.call")


async def test_system_prompt_is_top_level_and_usage_is_read(server, clean_env):
    server.reply(body=anthropic_body("Use AdamW."))
    p = provider(server)
    completion = await complete(
        p, [Message.system("You are a reviewer."), Message.user("Which optimizer?")]
    )

    request = server.requests[0]
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert ANTHROPIC_KEY in (request.headers.get("x-api-key", "") + request.headers.get("authorization", ""))
    body = server.body()
    assert body["model"] == "claude-3-5-sonnet-latest"
    assert body["system"] == "You are a reviewer."
    assert body["messages"] == [{"role": "user", "content": "Which optimizer?"}]
    assert body["max_tokens"] == 512
    assert ("temperature" in body) == p.takes_temperature
    assert completion.text == "Use AdamW."
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (20, 7)
    assert (completion.usage.cached_input_tokens, completion.usage.cache_write_tokens) == (0, 0)
    assert completion.provider == "anthropic" and completion.model == "claude-3-5-sonnet-20241022"


async def test_json_mode_is_an_instruction_in_the_system_prompt(server, clean_env):
    server.reply(body=anthropic_body('{"k": 1}'))
    await complete(provider(server), [Message.system("Base."), Message.user("Go")], json_mode=True)
    body = server.body()
    assert body["system"].startswith("Base.") and body["system"].endswith(JSON_INSTRUCTION)


async def test_a_prompt_laid_out_for_the_cache_is_marked_and_its_cached_tokens_are_priced(server, clean_env):
    server.reply(body=anthropic_body("Lower the rate.", model="claude-sonnet-4-5-20250929", usage=(200, 40), cache=(3000, 500)))
    messages = prompts.messages("search_reflect", results_file="results.json", files="## train.py", task="Classify reviews.",
                                metric="f1", baseline="0.5", nodes="- n001 ...")
    p = provider(server, model="claude-sonnet-4-5")
    completion = await complete(p, [*messages, Message.user("Be brief.")])

    body = server.body()
    user = messages[1].content
    assert body["system"] == [{"type": "text", "text": messages[0].content, "cache_control": {"type": "ephemeral"}}]
    [turn] = body["messages"]
    # the same text, cut where the template's stable stretches end (the change prompts' shared
    # opening, then reflect's own instructions) and marked there
    first, second = messages[1].breaks
    assert [b["text"] for b in turn["content"]] == [user[:first], user[first:second], user[second:], "Be brief."]
    assert [("cache_control" in b) for b in turn["content"]] == [True, True, False, False]

    usage = completion.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens, usage.output_tokens) == (3700, 3000, 500, 40)
    # Sonnet 4.5: $3 input, $0.30 cache read, $3.75 cache write, $15 output per million tokens
    assert cost_of(completion.model, usage) == pytest.approx((200 * 3 + 3000 * 0.30 + 500 * 3.75 + 40 * 15) / 1e6)


async def test_at_most_four_cache_marks_are_sent(server, clean_env):
    server.reply(body=anthropic_body("ok"))
    text = "abcdefghij"
    await complete(provider(server), [Message.system("S"), Message("user", text, breaks=(2, 4, 6, 8))])
    body = server.body()
    marked = [b["text"] for b in body["messages"][0]["content"] if "cache_control" in b]
    assert marked == ["ab", "cd", "ef"] and "".join(b["text"] for b in body["messages"][0]["content"]) == text


async def test_text_blocks_are_joined(server, clean_env):
    body = anthropic_body("first ")
    body["content"].append({"type": "text", "text": "second"})
    server.reply(body=body)
    completion = await complete(provider(server), [Message.user("hi")])
    assert completion.text == "first second"


def test_turns_alternate_and_start_with_user():
    system, turns = split_messages(
        [
            Message.system("a"),
            Message.assistant("earlier reply"),
            Message.user("one"),
            Message.user("two"),
            Message.system("b"),
        ]
    )
    assert system == "a\n\nb"
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"] == "one\n\ntwo"


async def test_overloaded_and_rate_limit_map_to_retryable(server, clean_env):
    server.reply(529, anthropic_error("overloaded_error", "Overloaded"))
    server.reply(429, anthropic_error("rate_limit_error", "Number of requests exceeded"), headers={"retry-after": "2"})
    p = provider(server)
    with pytest.raises(TransientLLMError, match="HTTP 529"):
        await complete(p, [Message.user("x")])
    with pytest.raises(RateLimitedError) as caught:
        await complete(p, [Message.user("x")])
    assert caught.value.retry_after == 2.0


async def test_401_names_the_variable_in_use(server, clean_env):
    server.reply(401, anthropic_error("authentication_error", "invalid x-api-key"))
    with pytest.raises(LLMError) as caught:
        await complete(provider(server, key_variable="CLAUDE_API_KEY"), [Message.user("x")])
    assert "the API key in CLAUDE_API_KEY was rejected" in str(caught.value)
    assert ANTHROPIC_KEY not in str(caught.value)


async def test_404_names_the_model(server, clean_env):
    server.reply(404, anthropic_error("not_found_error", "model: claude-9"))
    with pytest.raises(LLMError, match="model 'claude-9' was not found"):
        await complete(provider(server, model="claude-9"), [Message.user("x")])
