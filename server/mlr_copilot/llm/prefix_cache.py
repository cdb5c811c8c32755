"""How much of a sequence of prompts a provider's prefix cache can serve, in the accounting's
estimated tokens (`estimate_tokens`: tiktoken cannot fetch its encodings offline). Used by the
search's bench and its tests; no provider call depends on it.

A prompt is measured as a provider receives it: the system part first, then every message in
order with its role. Three rules, for each prompt, against every earlier one:

- prefix: the longest prefix it shares with an earlier prompt, whatever its length (an ideal
  prefix cache: the figure the prompts' layout controls);
- openai: OpenAI's automatic caching, which serves a shared prefix of at least 1024 tokens, in
  steps of 128 tokens (https://platform.openai.com/docs/guides/prompt-caching);
- anthropic: Anthropic's caching on request, which serves the prompt up to a block boundary
  where an earlier prompt with the same text up to there had a `cache_control` mark, and writes
  an entry only at a mark with at least 1024 tokens before it (Sonnet and Opus; Haiku needs 2048)
  (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching). The marks are the ones
  `AnthropicProvider` sends: the end of the system part and the messages' `breaks`, four at most.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from mlr_copilot.llm.anthropic_provider import MAX_BREAKPOINTS
from mlr_copilot.llm.base import Message, estimate_tokens

MIN_TOKENS = 1024
OPENAI_STEP = 128
RULES = ("prefix", "openai", "anthropic")


@dataclass(frozen=True)
class Prompt:
    """A prompt's text as sent, its block boundaries and the ones marked for Anthropic's cache."""

    text: str
    boundaries: tuple[int, ...]
    marks: tuple[int, ...]


def as_sent(messages: Sequence[Message]) -> Prompt:
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    text = f"system\n{system}\n" if system else ""
    boundaries, cuts = [len(text)], []
    for message in (m for m in messages if m.role != "system"):
        start = len(text) + len(message.role) + 1
        text += f"{message.role}\n{message.content}\n"
        cuts += [start + cut for cut in message.breaks]
        boundaries += [start + cut for cut in message.breaks] + [len(text)]
    # the provider marks the system part, then the first cuts while marks are left
    marks = ([boundaries[0]] if system else []) + cuts[: MAX_BREAKPOINTS - 1]
    return Prompt(text, tuple(boundaries), tuple(marks))


def shared_prefix(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _openai(shared_tokens: int) -> int:
    if shared_tokens < MIN_TOKENS:
        return 0
    return MIN_TOKENS + (shared_tokens - MIN_TOKENS) // OPENAI_STEP * OPENAI_STEP


@dataclass(frozen=True)
class Sent:
    """One prompt in the order sent: its length and how much of it an earlier one shares (any
    prefix), in characters, and the text from where it parts from them."""

    call: str
    length: int
    shared: int
    rest: str


@dataclass
class Shares:
    """Per call name: prompt tokens, and the tokens each rule serves from the cache; and each
    prompt's own figures, to find the ones that part from the earlier ones early."""

    total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cached: dict[str, dict[str, int]] = field(default_factory=lambda: {rule: defaultdict(int) for rule in RULES})
    sent: list[Sent] = field(default_factory=list)

    def share(self, rule: str, call: str | None = None) -> float:
        calls = [call] if call else list(self.total)
        total = sum(self.total[c] for c in calls)
        return sum(self.cached[rule][c] for c in calls) / total if total else 0.0


def measure(prompts: Sequence[tuple[str, Sequence[Message]]]) -> Shares:
    """The shares of `prompts` (call name, messages; in the order they were sent) each rule serves."""
    shares = Shares()
    seen: list[str] = []
    written: set[str] = set()
    for call, messages in prompts:
        prompt = as_sent(messages)
        shared = max((shared_prefix(earlier, prompt.text) for earlier in seen), default=0)
        hit = max((b for b in prompt.boundaries if prompt.text[:b] in written), default=0)
        shares.total[call] += estimate_tokens(prompt.text)
        shares.cached["prefix"][call] += estimate_tokens(prompt.text[:shared])
        shares.cached["openai"][call] += _openai(estimate_tokens(prompt.text[:shared]))
        shares.cached["anthropic"][call] += estimate_tokens(prompt.text[:hit])
        shares.sent.append(Sent(call, len(prompt.text), shared, prompt.text[shared:]))
        seen.append(prompt.text)
        written |= {prompt.text[:mark] for mark in prompt.marks if estimate_tokens(prompt.text[:mark]) >= MIN_TOKENS}
    return shares
