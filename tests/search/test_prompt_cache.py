"""A provider's prefix cache serves most of a search's prompts: every change prompt (draft steps,
fixes, improvements) opens with the same bytes, each operator's stable part follows, and what
changes from call to call comes last. Measured on the prompts as the provider receives them
(`llm.prefix_cache`), over a whole scripted search on a real repository.

No cache serves the search's first prompt, and each operator's first prompt only up to the
shared opening, so the share grows with the search's length: over 20 nodes of a code base with
about 10 KB of starter files it reaches nine tenths (bench_search gives shorter searches)."""

from __future__ import annotations

import itertools

import pytest

from mlr_copilot.llm import prefix_cache
from mlr_copilot.search import operators
from mlr_copilot.search.execute import check_out
from tests.gitutil import git

from .helpers import draft, engine_for, fix, reflect, search, sent_prompts, workspace

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
    sent = sent_prompts(monkeypatch)
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

    # every operator's prompt, reflect's too, opens with the same bytes: the system part, the main
    # files as the baseline has them and the task, up to its first cache breakpoint
    heads = {(messages[0].content, messages[1].content[: messages[1].breaks[0]])
             for call, messages in sent if call in (*CHANGE_CALLS, "search.reflect")}
    assert len(heads) == 1
    [(_, head)] = heads
    assert "SCORE = 0.5\n" in head and "Raise the score." in head and "SCORE = 0.6" not in head

    # with no instruction from the researcher the improve prompt ends with what was tried: no
    # stable text follows the part that grows from call to call
    improves = [messages[1].content for call, messages in sent if call == "search.improve"]
    assert all("# The researcher's instruction" not in text for text in improves)

    shares = prefix_cache.measure(sent)
    assert shares.share("prefix") >= 0.9, {call: shares.share("prefix", call) for call in shares.total}


def test_what_is_a_nodes_own_comes_after_everything_its_siblings_share(tmp_path, monkeypatch):
    """The property the share rests on, call by call: two drafts' first steps differ from the
    hypothesis on (the files, the task and the workspace's map come before it); improve prompts
    of two sibling nodes are the same bytes up to the first of a node's own (its changed files,
    then its id, commit and result), all after the main files, the task and the improve
    instructions; and the next improvement of the same node only adds to the end of the last
    one's prompt, since what its siblings tried only grows at the end and nothing follows it."""
    sent = sent_prompts(monkeypatch)
    records = [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise the score"),
               *draft("SCORE = 0.5", "SCORE = 0.55", "Raise it less"),
               *[{"call": "search.improve", "response": f"SUMMARY: Add step {n}\nWHY: it may help.\n\nstep_{n}.py\n"
                  f"<<<<<<< FILE\nSTEP = {n}\n>>>>>>> FILE\n"} for n in (3, 4, 5)]]
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, records, maxNodes=5, epsilon=0.0, seeds=1)
    journal = search(engine)
    assert [(n.operator, n.parent, n.status) for n in journal.nodes] == [
        ("draft", None, "passed"), ("draft", None, "passed"), *[("improve", "n001", "passed")] * 3]

    steps = [messages for call, messages in sent if call == "implement.step"]
    first, second = steps[0], steps[2]  # each draft's first step
    assert first[0].content == second[0].content and first[1].breaks[:2] == second[1].breaks[:2]
    shared = prefix_cache.shared_prefix(first[1].content, second[1].content)
    assert shared >= first[1].breaks[1]
    opening = first[1].content[: first[1].breaks[1]]
    assert "# Workspace map, as this implementation started\n" in opening and "train.py (" in opening
    assert first[1].content[shared:].startswith("1: Idea 1") and "Idea 1" not in opening

    def improve_prompt(node: str) -> list:
        check_out(engine, journal.branch, journal.node(node).commit)  # as `operators.improve` does
        return operators.improve_messages(engine, journal, journal.node(node), "")

    one, two = improve_prompt("n001"), improve_prompt("n002")
    assert one[0].content == two[0].content and one[1].breaks[:2] == two[1].breaks[:2]
    a, b = one[1].content, two[1].content
    stable = one[1].breaks[1]  # the main files, the task, the improve instructions
    shared = prefix_cache.shared_prefix(a, b)
    assert a[:stable].index("# The workspace's main files") < a[:stable].index("# Your task: improve")
    # they part in the first of a node's own bytes: its changed files' content
    assert stable <= shared < a.index("# Node n001")
    assert a[:shared].endswith("## train.py\n```\nimport json\nimport os\nimport sys\nimport time\n\nSCORE = 0.")
    assert a[shared:].startswith("6\n") and b[shared:].startswith("55\n")
    for own in ("n001", journal.node("n001").commit[:12], "score=0.6"):
        assert own not in a[:shared]

    improves = [messages for call, messages in sent if call == "search.improve"]
    assert len(improves) == 3
    for before, after in itertools.pairwise(improves):
        assert before[0].content == after[0].content and after[1].content.startswith(before[1].content)
    assert not improves[-1][1].content.endswith("(none)")
