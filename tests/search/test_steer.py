"""A user's requests of a search's nodes (`Engine.search_act`): improve with an instruction,
prune, promote, done at once when no search of the session is live, queued for the live
search's loop (which takes them before the policy's choice) when one is."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mlr_copilot.config import SearchSettings
from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from mlr_copilot.search import steer, store
from mlr_copilot.search.loop import Search
from mlr_copilot.search.model import NodeAction, NodeActionName
from mlr_copilot.search.policy import choose
from mlr_copilot.search.report import render
from mlr_copilot.work import Work
from tests.gitutil import git

from .helpers import draft, engine_for, fix, improve, search, settings, workspace, write_script
from .test_policy import journal as hand_journal
from .test_policy import node as hand_node

INSTRUCTION = "try a learning-rate schedule"
BRANCH = "mlr/h1-idea-1"


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def engine_with(tmp_path: Path, ws: Path, records: list) -> Engine:
    return Engine.load(ws, settings(write_script(tmp_path, records), seeds=1))


def act(engine: Engine, node: str, action: NodeActionName, instruction: str = "") -> NodeAction:
    return asyncio.run(engine.search_act(Work(), node, action, instruction=instruction))


def one_draft_searched(tmp_path: Path) -> tuple[Path, str]:
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"), hypotheses=1,
                        initialDrafts=1, maxNodes=1, seeds=1)
    journal = search(engine)
    assert journal.status == "nodes"
    return ws, journal.session


def test_improve_with_an_instruction_makes_a_child_whose_prompt_held_it(tmp_path):
    ws, session = one_draft_searched(tmp_path)
    engine = engine_with(tmp_path, ws, [improve("SCORE = 0.6", "SCORE = 0.7", "Schedule it", f"# The researcher's "
                                                f"instruction\n{INSTRUCTION}")])
    done = act(engine, "n001", "improve", INSTRUCTION)
    assert engine.llm.provider.remaining() == {}  # the scripted reply's `expect` held: the prompt had it
    assert (done.action, done.node, done.child, done.queued) == ("improve", "n001", "n002", False)
    assert "n002: Schedule it -> score=0.7" in done.message and "\n" not in done.message
    journal = engine.search_journal()
    child = journal.node("n002")
    assert (journal.session, child.parent, child.instruction, child.status) == (session, "n001", INSTRUCTION, "passed")
    assert journal.status == "nodes" and len(child.runs) == 1 and journal.steered  # its status as it was
    assert git(ws, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert "mlr-search" not in git(ws, "branch", "--list")
    assert git(ws, "rev-parse", f"refs/mlr/search/{session}/n002").strip() == child.commit


def test_debug_of_a_failed_node_makes_a_fixed_child(tmp_path):
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, draft("BROKEN = False", "BROKEN = True", "Break it"), hypotheses=1,
                        initialDrafts=1, maxNodes=1, seeds=1)
    assert [n.status for n in search(engine).nodes] == ["failed"]
    engine = engine_with(tmp_path, ws, [fix("BROKEN = True", "BROKEN = False", "Unbreak it")])
    done = act(engine, "n001", "debug")
    assert (done.action, done.child, done.queued) == ("debug", "n002", False) and "-> score=0.5" in done.message
    child = engine.search_journal().node("n002")
    assert (child.parent, child.operator, child.debug_depth, child.status) == ("n001", "debug", 1, "passed")


def test_bad_requests_are_one_line_refusals(tmp_path):
    ws, session = one_draft_searched(tmp_path)
    engine = engine_with(tmp_path, ws, [])
    for node, action, said in [("n009", "improve", "has no node 'n009'"),
                               ("n001", "debug", "only a failed node with a run to read can be debugged")]:
        with pytest.raises(MlrError, match=said) as caught:
            act(engine, node, action)
        assert "\n" not in str(caught.value)
    (ws / "train.py").write_text((ws / "train.py").read_text() + "# mine\n")
    with pytest.raises(MlrError, match="uncommitted changes"):
        act(engine, "n001", "improve", INSTRUCTION)
    journal = engine.search_journal()
    assert len(journal.nodes) == 1 and steer.pending(ws, journal) == []  # a failed request is not left for later
    assert "# mine" in (ws / "train.py").read_text()
    with pytest.raises(MlrError, match="no search session in .* yet"):
        Engine.load(workspace(tmp_path / "other")).search_journal()
    assert engine.search_journal(session).nodes[0].id == "n001"


def test_a_pruned_node_is_never_improved_nor_debugged_by_the_policy(tmp_path):
    ws, _ = one_draft_searched(tmp_path)
    engine = engine_with(tmp_path, ws, [])
    done = act(engine, "n001", "prune")
    assert (done.action, done.child, done.queued) == ("prune", None, False) and "never expands it" in done.message
    journal = engine.search_journal()
    assert journal.node("n001").status == "pruned" and journal.node("n001").value == pytest.approx(0.6)
    assert choose(journal, engine.settings.search) is None  # the only node, and every hypothesis drafted
    with pytest.raises(MlrError, match=r"^node n001 is already pruned: the search never expands it again$"):
        act(engine, "n001", "prune")
    assert steer.pending(ws, engine.search_journal()) == []  # refused at once: nothing queued
    # by hand: a pruned node better than the working one, and pruned failed leaves that have a run to read
    tree = hand_journal(hand_node("n001", "passed", 0.6, operator="draft"), hand_node("n002", "pruned", 0.9, "n001"),
                        hand_node("n003", "pruned", operator="draft"), hand_node("n004", "pruned", parent="n001"))
    for seed in range(20):
        action = choose(tree, SearchSettings.model_validate({"epsilon": 1.0, "rngSeed": seed}))
        assert action is not None and (action.operator, action.parent) == ("improve", "n001")


def test_promote_moves_the_branch_and_keeps_the_old_tip_reachable(tmp_path):
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"),
                                       improve("SCORE = 0.6", "SCORE = 0.7", "Raise to 0.7")],
                        hypotheses=1, initialDrafts=1, maxNodes=2, seeds=1)
    journal = search(engine)
    first, best = journal.nodes
    # the end of the search promoted the best node: a fast-forward of the draft's branch
    assert git(ws, "rev-parse", BRANCH).strip() == best.commit
    assert [(p.node, p.branch, p.kept) for p in journal.promotions] == [("n002", BRANCH, None)]
    assert f"Promoted: {BRANCH} now points at node n002 ({best.commit[:12]})" in render(journal)

    engine = engine_with(tmp_path, ws, [])
    done = act(engine, "n001", "promote")
    kept = f"refs/mlr/promoted/{BRANCH}/{best.commit}"
    assert (done.action, done.branch, done.queued) == ("promote", BRANCH, False) and kept in done.message
    assert git(ws, "rev-parse", BRANCH).strip() == first.commit
    assert git(ws, "rev-parse", kept).strip() == best.commit  # the old tip stays reachable
    with pytest.raises(MlrError, match=rf"^node n001 is already promoted: {BRANCH} points at its commit "
                                       rf"{first.commit[:12]}$"):
        act(engine, "n001", "promote")
    assert [p.node for p in engine.search_journal().promotions] == ["n002", "n001"]  # none recorded twice

    git(ws, "checkout", "-q", BRANCH)
    (ws / "train.py").write_text((ws / "train.py").read_text() + "# mine\n")
    with pytest.raises(MlrError, match=f"{BRANCH} is checked out with uncommitted changes"):
        act(engine, "n002", "promote")
    assert git(ws, "rev-parse", BRANCH).strip() == first.commit and "# mine" in (ws / "train.py").read_text()


def test_a_request_to_a_live_search_is_queued_and_its_loop_takes_it_first(tmp_path):
    ws = workspace(tmp_path)
    (ws / "sleep.flag").write_text("")
    records = [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"), *draft("SLEEP = 0", "SLEEP = 4", "Sleep a while"),
               improve("SCORE = 0.6", "SCORE = 0.7", "Schedule it", INSTRUCTION)]
    engine = engine_for(tmp_path, ws, records, maxNodes=3, seeds=1)
    editor = engine_with(tmp_path, ws, [])  # another engine of the same process, as the editor's

    async def scenario():
        running = asyncio.create_task(Search(engine, Work()).run())
        while not any(n.id == "n002" and n.status == "running" for n in _nodes(ws)):
            assert not running.done(), running
            await asyncio.sleep(0.05)
        queued = await editor.search_act(Work(), "n001", "improve", instruction=INSTRUCTION)
        pruned = await editor.search_act(Work(), "n002", "prune")
        return queued, pruned, await running

    queued, pruned, journal = asyncio.run(scenario())
    assert engine.llm.provider.remaining() == {}
    assert (queued.queued, queued.child, pruned.queued) == (True, None, True) and "queued for search" in queued.message
    assert [(n.id, n.parent, n.operator, n.status, n.instruction) for n in journal.nodes] == [
        ("n001", None, "draft", "passed", ""), ("n002", None, "draft", "pruned", ""),
        ("n003", "n001", "improve", "passed", INSTRUCTION)]
    assert journal.node("n002").runs  # pruned while it ran: its run is kept
    assert len(journal.steered) == 2


def _nodes(ws: Path) -> list:
    try:
        return store.load(ws, store.latest_session(ws)).nodes
    except MlrError:  # not written yet
        return []
