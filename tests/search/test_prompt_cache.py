"""A provider's prefix cache serves most of a search's prompts: every change prompt (draft steps,
fixes, improvements) opens with the same bytes, each operator's stable part follows, and what
changes from call to call comes last. Measured on the prompts as the provider receives them
(`llm.prefix_cache`), over a whole scripted search on a real repository.

No cache serves the search's first prompt, and each operator's first prompt only up to the
shared opening, so the share grows with the search's length: over 20 nodes of a code base with
about 10 KB of starter files it reaches nine tenths (bench_search gives shorter searches)."""

from __future__ import annotations

import pytest

from mlr_copilot.llm import prefix_cache
from mlr_copilot.llm.scripted import ScriptedProvider
from tests.gitutil import git

from .helpers import draft, engine_for, fix, reflect, search, workspace

CHANGE_CALLS = ("implement.step", "debug.fix", "search.improve")


def starter(name: str, functions: int) -> str:
    """A starter file of a realistic size (the toy task's train.py alone is 450 bytes)."""
    body = "".join(f"\n\ndef {name}_{n}(values: list[float]) -> list[float]:\n"
                   f'    """Scale the values by {n} and shift them by the {name} offset."""\n'
                   f"    return [value * {n} + OFFSET for value in values]\n" for n in range(functions))
    return f'"""The {name} helpers of the toy experiment."""\n\nOFFSET = 0.0{body}'


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def test_a_search_sends_prompts_a_prefix_cache_serves_at_least_nine_tenths_of(tmp_path, monkeypatch):
    sent: list[tuple[str, list]] = []
    complete = ScriptedProvider.complete

    async def spy(self, messages, **kwargs):
        sent.append((kwargs["call"], list(messages)))
        return await complete(self, messages, **kwargs)

    monkeypatch.setattr(ScriptedProvider, "complete", spy)
    # as in bench_search: each improvement adds a module (an edit of a file already shown would
    # send its new content, the part of a prompt no cache can serve)
    records = [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise the score"),
               *draft("BROKEN = False", "BROKEN = True", "Break it"),
               fix("BROKEN = True", "BROKEN = False", "Unbreak it"),
               *[{"call": "search.improve", "response": f"SUMMARY: Add step {n}\nWHY: it may help.\n\nstep_{n:02d}.py\n"
                  f"<<<<<<< FILE\nSTEP = {n}\n>>>>>>> FILE\n"} for n in range(4, 21)],
               *[reflect(f"- adding modules changed nothing ({n})") for n in range(5)]]
    ws = workspace(tmp_path)
    (ws / "model.py").write_text(starter("model", 28))
    (ws / "evaluate.py").write_text(starter("evaluate", 28))
    git(ws, "add", "model.py", "evaluate.py")
    git(ws, "commit", "-qm", "starter files")
    engine = engine_for(tmp_path, ws, records, maxNodes=20, reflectEvery=4, ideasAfterReflect=0,
                        epsilon=0.0, seeds=1)
    journal = search(engine)
    assert [n.operator for n in journal.nodes] == ["draft", "draft", "debug", *["improve"] * 17]
    assert all(n.status == "passed" for n in journal.nodes if n.id != "n002")
    calls = [call for call, _ in sent]
    assert {"implement.step", "debug.fix", "search.improve", "search.reflect"} <= set(calls)

    # every change prompt opens with the same bytes: the system part, the main files as the
    # baseline has them and the task, up to its first cache breakpoint
    heads = {(messages[0].content, messages[1].content[: messages[1].breaks[0]])
             for call, messages in sent if call in CHANGE_CALLS}
    assert len(heads) == 1
    [(_, head)] = heads
    assert "SCORE = 0.5\n" in head and "Raise the score." in head and "SCORE = 0.6" not in head

    # the researcher's instruction is the improve prompt's last part
    improves = [messages[1].content for call, messages in sent if call == "search.improve"]
    assert all(text.endswith("# The researcher's instruction\n(none)") for text in improves)

    shares = prefix_cache.measure(sent)
    assert shares.share("prefix") >= 0.9, {call: shares.share("prefix", call) for call in shares.total}
