"""Run on all accepted hypotheses: each implemented hypothesis's branch head runs on its own
commit, all queued at once; one without anything to run is one line and the others still run.
Real git, real processes, through the engine and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from mlr_copilot.config import validate_settings
from mlr_copilot.engine import Engine
from mlr_copilot.ideas.model import Analysis, ExperimentPlan, Hypothesis, IdeasRun
from mlr_copilot.ideas.store import IdeaStore
from mlr_copilot.runners.batch import BatchItem, Target, run_batch
from mlr_copilot.state import StateDir
from mlr_copilot.work import Work
from tests.cli.test_cli import cli, no_traceback
from tests.gitutil import commit, git, make_repo

from .helpers import GIT_ENV

PY = sys.executable
# sleeps as long as it is told, then reports when it ran and which version of the code it is
PROBE = """
import json, sys, time
start = time.time()
time.sleep(float(sys.argv[1]))
version = open("version.txt").read().strip()
print("VERSION", version)
json.dump({"score": float(version), "start": start, "end": time.time()}, open("results.json", "w"))
"""


def hypothesis(n: int, status: str = "accepted") -> Hypothesis:
    plan = ExperimentPlan(dataset="toy", model="toy", baseline="0.5", metric="score", direction="maximize",
                          steps=["raise the score"], expected_improvement="+10%")
    return Hypothesis(id=f"h{n}", paper="toy", rank=n, status=status, title=f"Idea {n}", problem="Low score.",
                      method="Raise it.", rationale="Because.", plan=plan)


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return implemented_hypotheses(tmp_path / "repo")


def implemented_hypotheses(root: Path) -> tuple[Path, dict[str, str]]:
    """main at version 1; h1 and h2 accepted with a commit each on their branch (versions 2 and
    3); h3 accepted, never implemented (no branch); h4 only proposed (a branch, not to run).
    The repository and the head commit of each branch."""
    repo = make_repo(root, {"probe.py": PROBE, "version.txt": "1\n", ".gitignore": ".mlr/\n"})
    hypotheses = [hypothesis(1), hypothesis(2), hypothesis(3), hypothesis(4, "proposed")]
    heads = {}
    for h, version in ((hypotheses[0], "2"), (hypotheses[1], "3"), (hypotheses[3], "4")):
        git(repo, "checkout", "-q", "-b", h.branch, "main")
        heads[h.id] = commit(repo, {"version.txt": f"{version}\n"}, f"implement {h.id}")
    git(repo, "checkout", "-q", "main")
    IdeaStore(StateDir(repo)).save(IdeasRun(paper_path="toy", paper_slug="toy", paper_title="Toy", hypotheses=hypotheses,
                                            analysis=Analysis(task="Raise a score.", gaps=["g"], keywords=["toy"])))
    heads["main"] = git(repo, "rev-parse", "main").strip()
    return repo, heads


def engine(repo: Path, seconds: float, **run: object) -> Engine:
    settings, _ = validate_settings({"run": {"runner": "local", "timeout": 60, "command": f"{PY} probe.py {seconds}", **run},
                                     "ideas": {"online": False}})
    return Engine(repo, settings, environ={**os.environ, **GIT_ENV})


def test_every_implemented_accepted_hypothesis_runs_on_its_commit_at_once(workspace):
    repo, heads = workspace
    lines: list[str] = []
    ended: list[str] = []
    items = asyncio.run(engine(repo, 1.5, parallel=2).run_hypotheses(
        Work(), on_line=lines.append, on_end=lambda item: ended.append(item.target)))

    assert [i.target for i in items] == ["h1", "h2", "h3"]  # h4 is only proposed
    h1, h2, h3 = items
    for item, version in ((h1, 2.0), (h2, 3.0)):
        assert item.error is None and item.run is not None, item
        assert item.run.status == "passed" and item.run.commit == heads[item.target] == item.commit
        assert item.run.hypothesis == item.target and item.run.isolated
        assert item.run.branch == item.branch == hypothesis(int(item.target[1:])).branch
        assert item.run.metrics["score"] == version and item.run.primary_metric == "score"
    assert h3.run is None and h3.error == "h3 has no branch mlr/h3-idea-3: implement it first"
    # the queue's two slots ran them together
    assert max(h1.run.metrics["start"], h2.run.metrics["start"]) < min(h1.run.metrics["end"], h2.run.metrics["end"])
    assert {h1.run.slot, h2.run.slot} == {0, 1}
    assert {"[h1] VERSION 2", "[h2] VERSION 3"} <= set(lines)
    assert sorted(ended) == ["h1", "h2", "h3"]
    # each run is in its commit's note, where the history finds it
    for item in (h1, h2):
        assert json.loads(git(repo, "notes", "--ref=mlr", "show", item.commit).strip().splitlines()[-1])["run"] == item.run.id
    assert git(repo, "rev-parse", "HEAD").strip() == heads["main"]  # the checkout stayed where it was


def test_one_slot_runs_them_in_turn_and_the_baseline_runs_too(workspace):
    repo, heads = workspace
    items = asyncio.run(engine(repo, 0.3, parallel=1).run_hypotheses(Work(), ["h2", "h4", "nope"], baseline=True))
    by_target = {i.target: i for i in items}
    assert list(by_target) == ["baseline", "h4", "nope", "h2"]
    base = by_target["baseline"].run
    assert base is not None and base.baseline and base.commit == heads["main"] and base.metrics["score"] == 1.0
    assert base.branch == "main"
    assert by_target["h2"].run is not None and by_target["h2"].run.commit == heads["h2"]
    assert by_target["h4"].error == "h4 is proposed: only accepted hypotheses run"
    assert by_target["nope"].error == "no hypothesis 'nope' (known: h1, h2, h3, h4)"
    runs = [base, by_target["h2"].run]
    spans = sorted((r.metrics["start"], r.metrics["end"]) for r in runs)
    assert spans[0][1] <= spans[1][0], "one slot ran two at once"


def test_a_branch_without_a_commit_of_its_own_and_a_vanished_commit_are_one_line_each(workspace):
    repo, heads = workspace
    git(repo, "branch", "-f", hypothesis(2).branch, "main")  # implemented nothing yet
    gone = BatchItem(target="x")
    engine_ = engine(repo, 0)

    async def vanished() -> list[BatchItem]:
        planned = [Target("x", "mlr/x", "0" * 40), gone]
        return await run_batch(planned, lambda t, lines: engine_.run(Work(), rev=t.commit, on_line=lines))

    [missing, kept] = asyncio.run(vanished())
    assert kept is gone
    assert missing.run is None and missing.error is not None and missing.error.startswith("x: cannot run '0000000000")
    assert "\n" not in missing.error
    items = asyncio.run(engine_.run_hypotheses(Work()))
    errors = {i.target: i.error for i in items}
    assert errors["h2"] == "h2: branch mlr/h2-idea-2 has no commit beyond main: implement it first"
    assert errors["h1"] is None and items[0].run is not None and items[0].run.commit == heads["h1"]


def test_the_cli_runs_all_accepted_and_names_the_one_without_a_branch(workspace):
    repo, heads = workspace
    env = {**GIT_ENV, "MLR_COMMAND": f"{PY} probe.py 0", "MLR_RUNNER": "local"}
    shown = cli("run", "--all-accepted", "-w", str(repo), env=env)
    no_traceback(shown)
    assert shown.returncode == 1, shown.stderr  # h3 has nothing to run
    errors = [line for line in shown.stderr.splitlines() if line.startswith("h3")]
    assert errors == ["h3 has no branch mlr/h3-idea-3: implement it first"]
    assert f"at {heads['h1'][:12]} [local]: passed, score=2" in shown.stdout
    assert f"at {heads['h2'][:12]} [local]: passed, score=3" in shown.stdout
    as_json = cli("run", "--all-accepted", "--json", "-w", str(repo), env=env)
    data = {item["target"]: item for item in json.loads(as_json.stdout)}
    assert data["h1"]["run"]["commit"] == heads["h1"] and data["h3"]["run"] is None
    refused = cli("run", "--all-accepted", "--rev", "main", "-w", str(repo), env=env)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "drop --rev" in refused.stderr
