"""The bench's model of what a prefix cache serves: prompts taken as the provider receives
them, OpenAI's 1024-token minimum and 128-token steps, Anthropic's marks."""

from __future__ import annotations

from mlr_copilot.llm.base import Message
from mlr_copilot.llm.prefix_cache import as_sent, measure

SYSTEM = Message.system("s" * 400)


def test_a_prompt_is_measured_as_sent_system_first_then_each_message_with_its_role():
    prompt = as_sent([Message("user", "hello", breaks=(2,)), SYSTEM, Message.assistant("ok")])
    assert prompt.text == f"system\n{'s' * 400}\nuser\nhello\nassistant\nok\n"
    start = prompt.text.index("hello")
    assert prompt.marks == (len("system\n") + 401, start + 2)


def test_openai_serves_only_a_shared_prefix_of_1024_tokens_in_steps_of_128():
    stable = "x" * 4 * 1100  # 1100 estimated tokens
    shares = measure([("a", [Message.user(stable + "one")]), ("b", [Message.user(stable + "two")]),
                      ("c", [Message.user("y" * 4 * 500 + "three")]), ("d", [Message.user("y" * 4 * 500 + "four")])])
    assert shares.cached["prefix"]["b"] == 1101  # "user\n" and the 1100 tokens
    assert shares.cached["openai"]["b"] == 1024
    assert shares.cached["prefix"]["d"] > 500 and shares.cached["openai"]["d"] == 0
    # each prompt's own figures, in the order sent: where it parts from every earlier one
    assert [(s.call, s.shared, s.rest) for s in shares.sent] == [
        ("a", 0, f"user\n{stable}one\n"), ("b", len("user\n") + len(stable), "two\n"),
        ("c", len("user\n"), f"{'y' * 2000}three\n"), ("d", len("user\n") + 2000, "four\n")]
    assert [s.length for s in shares.sent] == [len(f"user\n{stable}one\n"), len(f"user\n{stable}two\n"),
                                                len(f"user\n{'y' * 2000}three\n"), len(f"user\n{'y' * 2000}four\n")]


def test_anthropic_serves_up_to_an_earlier_mark_with_the_same_text_before_it():
    stable = "x" * 4 * 1100
    marked = [("a", [SYSTEM, Message("user", stable + "one", breaks=(len(stable),))]),
              ("b", [SYSTEM, Message("user", stable + "two", breaks=(len(stable),))])]
    shares = measure(marked)
    assert shares.cached["anthropic"]["b"] == shares.cached["prefix"]["b"] > 1100
    # no mark: nothing written, nothing served, however long the shared prefix
    unmarked = measure([(call, [SYSTEM, Message.user(m[1].content)]) for call, m in marked])
    assert unmarked.cached["anthropic"]["b"] == 0 and unmarked.cached["prefix"]["b"] > 1100
    # a mark with fewer than 1024 tokens before it writes no entry
    short = measure([(c, [Message("user", "z" * 400 + tail, breaks=(400,))]) for c, tail in (("a", "1"), ("b", "2"))])
    assert short.cached["anthropic"]["b"] == 0
