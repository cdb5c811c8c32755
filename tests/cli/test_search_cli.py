"""The search in the terminal: `history` shows the latest search's tree (and `--json` holds
it), and `search --improve/--debug/--prune/--promote NODE` act on one node, every bad input
refused in one line. The search is real: a real repository, the local runner, scripted replies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.search import store
from tests.search.helpers import draft, engine_for, fix, improve, search, workspace, write_script

from .test_cli import cli, no_traceback

RECORDS = [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"),
           *draft("BROKEN = False", "BROKEN = True", "Break it"),
           fix("BROKEN = True", "BROKEN = False", "Unbreak it"),
           improve("SCORE = 0.6", "SCORE = 0.7", "Raise to 0.7")]


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def searched(tmp_path: Path) -> Path:
    """A workspace after a finished search: n001 draft (0.6) -> n004 improve (0.7, the best);
    n002 draft (failed) -> n003 debug (0.5)."""
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, RECORDS, maxNodes=4, seeds=1)
    journal = search(engine)
    assert [(n.id, n.parent, n.status) for n in journal.nodes] == [
        ("n001", None, "passed"), ("n002", None, "failed"), ("n003", "n002", "passed"), ("n004", "n001", "passed")]
    return ws


def one_line_error(result, *expected: str) -> None:
    no_traceback(result)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_history_shows_the_latest_search_as_a_tree_and_json_holds_it(tmp_path):
    ws = searched(tmp_path)
    shown = cli("history", "-w", str(ws))
    no_traceback(shown)
    assert shown.returncode == 0 and shown.stderr == ""
    tree = shown.stdout[shown.stdout.index("\nsearch "):].strip().splitlines()
    assert tree[0].startswith(f"search {store.latest_session(ws)} on score (maximize): nodes")
    # the baseline, then each node indented under its parent, with its metric, delta and status
    assert [line.split()[:2] for line in tree[1:]] == [
        ["baseline", "score=0.5"], ["n001", "draft"], ["n004", "improve"], ["n002", "draft"], ["n003", "debug"]]
    indents = [len(line) - len(line.lstrip()) for line in tree[1:]]
    assert indents == [2, 4, 6, 4, 6]
    assert "score=0.7 (+40.0%)" in tree[3] and "passed *best*" in tree[3] and "Raise to 0.7" in tree[3]
    assert "score=-" in tree[4] and "failed" in tree[4] and "broken on purpose" in tree[4]

    data = json.loads(cli("history", "--json", "-w", str(ws)).stdout)
    assert {"rows", "baseline_run", "search"} <= set(data)
    nodes = {n["id"]: n for n in data["search"]["nodes"]}
    assert (nodes["n004"]["parent"], nodes["n004"]["operator"], nodes["n004"]["best"]) == ("n001", "improve", True)
    assert nodes["n004"]["delta"] == pytest.approx(0.4) and nodes["n002"]["value"] is None
    assert data["search"]["baseline_value"] == 0.5 and data["search"]["best"] == "n004"
    assert all(len(n["runs"]) == 1 and len(n["commit"]) == 40 for n in nodes.values())


def test_history_without_a_search_has_no_tree_and_an_unreadable_journal_is_one_line(tmp_path):
    ws = workspace(tmp_path)
    plain = cli("history", "-w", str(ws))
    assert plain.returncode == 0 and "\nsearch " not in plain.stdout
    assert json.loads(cli("history", "--json", "-w", str(ws)).stdout)["search"] is None
    broken = ws / ".mlr" / "search" / "20260101-120000" / "journal.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    shown = cli("history", "-w", str(ws))
    no_traceback(shown)
    assert shown.returncode == 0 and "commit" in shown.stdout  # the history is still shown
    assert shown.stderr.count("\n") == 1 and "cannot be read" in shown.stderr


def test_node_action_flags_are_refused_in_one_line_before_any_work(tmp_path):
    ws = workspace(tmp_path)
    one_line_error(cli("search", "--prune", "n001", "--resume", "-w", str(ws)), "--prune acts on one node")
    one_line_error(cli("search", "--debug", "n001", "--instruction", "x", "-w", str(ws)), "--instruction goes with --improve")
    one_line_error(cli("search", "--instruction", "x", "-w", str(ws)), "--instruction goes with --improve")
    one_line_error(cli("search", "--session", "20260101-120000", "-w", str(ws)), "--session goes with a node action")
    both = cli("search", "--prune", "n001", "--promote", "n001", "-w", str(ws))
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_node_actions_refuse_an_unknown_node_or_session_or_a_node_they_cannot_take(tmp_path):
    ws = searched(tmp_path)
    one_line_error(cli("search", "--prune", "n999", "-w", str(ws)), "has no node 'n999'")
    one_line_error(cli("search", "--debug", "n001", "-w", str(ws)), "node n001 is passed: only a failed node")
    one_line_error(cli("search", "--debug", "n001", "--session", "20990101-000000", "-w", str(ws)), "20990101-000000")
    one_line_error(cli("search", "--promote", "n004", "--session", "../../etc", "-w", str(ws)),
                   "is not a search session id")
    pruned = cli("search", "--prune", "n003", "-w", str(ws))
    no_traceback(pruned)
    assert pruned.returncode == 0 and "node n003 is pruned" in pruned.stdout
    one_line_error(cli("search", "--improve", "n003", "-w", str(ws)), "node n003 is pruned")
    # pruning it again would change nothing: said in one line
    one_line_error(cli("search", "--prune", "n003", "-w", str(ws)), "node n003 is already pruned")
    journal = store.load(ws, store.latest_session(ws))
    assert journal.node("n003").status == "pruned" and len(journal.nodes) == 4
    assert "n003" in cli("history", "-w", str(ws)).stdout  # a pruned node stays in the tree


def test_improve_with_an_instruction_adds_a_child_run_from_the_terminal(tmp_path):
    ws = searched(tmp_path)
    script = write_script(tmp_path, [improve("SCORE = 0.7", "SCORE = 0.75", "Raise to 0.75", "use 0.75")])
    result = cli("search", "--improve", "n004", "--instruction", "use 0.75", "--provider", "scripted",
                 "--script", str(script), "--runner", "local", "--offline", "-w", str(ws))
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    journal = store.load(ws, store.latest_session(ws))
    child = journal.nodes[-1]
    assert (child.id, child.parent, child.operator) == ("n005", "n004", "improve")
    assert "n005" in result.stdout
    tree = cli("history", "-w", str(ws)).stdout
    assert "        n005 improve" in tree  # under n004, under n001


def test_promote_makes_a_branch_of_the_node(tmp_path):
    from tests.gitutil import git

    ws = searched(tmp_path)
    # the search's end promoted its best node, n004: its draft n001 goes onto the branch instead
    result = cli("search", "--promote", "n001", "-w", str(ws))
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    journal = store.load(ws, store.latest_session(ws))
    branches = git(ws, "branch", "--list", "--format=%(refname:short) %(objectname)").splitlines()
    assert any(line.endswith(journal.node("n001").commit) and not line.startswith("main ") for line in branches)
    # promoting it again would change nothing: refused (the request is taken by the session's loop,
    # whose progress line says it too, before the error line)
    again = cli("search", "--promote", "n001", "-w", str(ws))
    no_traceback(again)
    assert again.returncode == 2
    commit = journal.node("n001").commit[:12]
    assert again.stderr.strip().splitlines()[-1] == (
        f"mlr-copilot search: node n001 is already promoted: mlr/h1-idea-1 points at its commit {commit}")


def test_parallel_sets_the_slots_of_this_search_and_the_queue_shows_each_runs_node(tmp_path):
    ws = workspace(tmp_path)
    (ws / "sleep.flag").write_text("")
    engine_for(tmp_path, ws, [], hypotheses=1)  # the hypothesis
    script = write_script(tmp_path, draft("SCORE = 0.5\nBROKEN = False\nSLEEP = 0",
                                          "SCORE = 0.6\nBROKEN = False\nSLEEP = 1", "Raise to 0.6"))
    result = cli("search", "-w", str(ws), "--script", str(script), "--provider", "scripted", "--offline",
                 "--runner", "local", "--nodes", "1", "--seeds", "2", "--drafts", "1", "--parallel", "2")
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    journal = store.load(ws, store.latest_session(ws))
    seeded = [r for r in Engine.load(ws).runs() if "--seed" in r.command]
    # two slots for this search: the node's two seeded runs (a second each) took both
    assert len(seeded) == 4 and {r.slot for r in seeded if r.search_node == "n001"} == {0, 1}
    assert Engine.load(ws).settings.run.parallel != 2  # for this search only: nothing was saved

    shown = cli("queue", "--all", "-w", str(ws))
    no_traceback(shown)
    rows = [line for line in shown.stdout.splitlines() if any(r.id in line for r in seeded)]
    assert len(rows) == 4 and sum("n001" in row for row in rows) == 2, shown.stdout
    # the column says what the run is of (never "node", which a Ray run's machine also is)
    assert re.search(r"GPUs\W+of\W+elapsed", shown.stdout), shown.stdout
    entries = {e["run_id"]: e for e in json.loads(cli("queue", "--all", "--json", "-w", str(ws)).stdout)}
    assert entries[journal.nodes[0].runs[0]]["node"] == "n001" and entries[journal.baseline_run]["node"] is None


@pytest.mark.parametrize("argv", [["search", "--parallel", "0"], ["auto", "--search", "--parallel", "0"],
                                  ["auto", "--parallel", "-1"], ["eval", "--parallel", "0"]])
def test_parallel_below_one_is_one_line(tmp_path, argv):
    ws = workspace(tmp_path)
    one_line_error(cli(*argv, "-w", str(ws), "--offline"), f"mlr-copilot {argv[0]}: --parallel counts what runs at once")
    assert not (ws / ".mlr" / "search").exists() and not (ws / ".mlr" / "runs").exists()


def test_readme_search_synopsis_and_search_help_name_the_same_flags():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    synopsis = next(line for line in readme.splitlines() if line.startswith("mlr-copilot search [--hypotheses"))
    flags = set(re.findall(r"--[a-z-]+", synopsis))
    assert {"--hypotheses", "--nodes", "--budget", "--hours", "--seeds", "--parallel", "--resume"} <= flags
    helped = cli("search", "--help")
    assert helped.returncode == 0
    assert flags <= set(re.findall(r"--[a-z-]+", helped.stdout)), flags - set(re.findall(r"--[a-z-]+", helped.stdout))
    assert "--parallel" in cli("auto", "--help").stdout
