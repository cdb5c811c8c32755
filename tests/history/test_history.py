"""The history table over a real repository with real runs on several commits."""

from __future__ import annotations

import json
import sys

import pytest

from mlr_copilot.history import history, load_runs
from mlr_copilot.history.store import relative_delta
from mlr_copilot.runners.execute import execute
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunRequest

from tests.runners.helpers import commit, git, make_repo

SCRIPT = "import sys\nv = open('value.txt').read().strip()\nprint(f'METRIC loss={v}')\nsys.exit(1 if v == 'fail' else 0)\n"


def run(repo, **kwargs):
    req = RunRequest(workspace=str(repo), command=[sys.executable, "train.py"], timeout=30)
    return execute(req, LocalRunner(), primary_metric="loss", direction="minimize", **kwargs)


@pytest.fixture
def repo(tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": SCRIPT, "value.txt": "2.0\n"}, message="baseline model")
    runs = {"A": run(repo)}
    git(repo, "checkout", "-q", "-b", "exp")
    commit(repo, {"value.txt": "1.5\n"}, "lower the learning rate\n\nMLR-Hypothesis: h1-lr-schedule")
    runs["B"] = run(repo)
    commit(repo, {"value.txt": "3.0\n"}, "wider layers\n\nMLR-Hypothesis: h2-width")
    runs["C"] = run(repo)
    commit(repo, {"value.txt": "fail\n"}, "broken step")
    runs["D"] = run(repo)
    git(repo, "checkout", "-q", "main")
    commit(repo, {"value.txt": "0.1\n"}, "unrelated work on main")
    runs["E"] = run(repo)
    return repo, runs


def test_branch_history_is_direction_aware(repo):
    repo, runs = repo
    table = history(repo, "exp")
    assert table.branch == "exp" and table.metric == "loss" and table.direction == "minimize"
    assert table.baseline_run == runs["A"].id and table.baseline_value == 2.0
    by_run = {row.run_id: row for row in table.rows}
    assert runs["E"].id not in by_run, "commits only on main are not part of the branch"
    assert [row.run_id for row in table.rows] == [runs[k].id for k in "DCBA"]
    assert by_run[runs["B"].id].delta == pytest.approx(0.25)
    assert by_run[runs["C"].id].delta == pytest.approx(-0.5)
    assert by_run[runs["D"].id].status == "failed" and by_run[runs["D"].id].delta is None
    assert by_run[runs["A"].id].baseline and by_run[runs["A"].id].delta == 0.0
    assert by_run[runs["B"].id].hypothesis == "h1-lr-schedule"
    assert by_run[runs["C"].id].subject == "wider layers"

    text = table.render_text()
    assert "lower is better" in text
    assert "+25.0%" in text and "-50.0%" in text and "baseline" in text and "[h2-width] wider layers" in text
    data = json.loads(table.to_json())
    assert data["rows"][2]["delta"] == pytest.approx(0.25)
    # each row says where its run's log is, so the editor can open it from the history view
    assert data["rows"][2]["log_path"] == runs["B"].log_path
    assert (repo / data["rows"][2]["log_path"]).read_text().startswith("METRIC loss=1.5")


def test_flagged_baseline_and_explicit_direction(repo):
    repo, runs = repo
    git(repo, "checkout", "-q", "exp")
    flagged = run(repo, baseline=True)  # on the failing commit: not usable
    assert flagged.status == "failed"
    git(repo, "checkout", "-q", "HEAD~2")
    chosen = run(repo, baseline=True)
    table = history(repo, "exp", direction="maximize")
    assert table.baseline_run == chosen.id and table.baseline_value == 1.5
    row_c = next(row for row in table.rows if row.run_id == runs["C"].id)
    assert row_c.delta == pytest.approx(1.0)


def test_current_branch_and_commits_without_runs(repo):
    repo, runs = repo
    commit(repo, {"notes.md": "x\n"}, "docs only")
    table = history(repo)
    assert table.branch == "main"
    assert table.rows[0].run_id is None and table.rows[0].subject == "docs only"
    assert "no run" in table.render_text()
    assert {row.run_id for row in table.rows if row.run_id} == {runs["A"].id, runs["E"].id}


def test_without_git(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "value.txt").write_text("4\n")
    first = run(tmp_path)
    (tmp_path / "value.txt").write_text("2\n")
    second = run(tmp_path)
    assert first.commit is None
    table = history(tmp_path)
    assert [row.run_id for row in table.rows] == [second.id, first.id]
    assert table.rows[0].delta == pytest.approx(0.5)
    assert [r.id for r in load_runs(tmp_path)] == [first.id, second.id]


def test_unreadable_record_is_skipped_not_lost(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "value.txt").write_text("1\n")
    good = run(tmp_path)
    broken = tmp_path / ".mlr" / "runs" / "broken.json"
    broken.write_text("{half")
    assert [r.id for r in load_runs(tmp_path)] == [good.id]
    assert broken.read_text() == "{half"


def test_relative_delta():
    assert relative_delta(1.1, 1.0, "maximize") == pytest.approx(0.1)
    assert relative_delta(0.9, 1.0, "minimize") == pytest.approx(0.1)
    assert relative_delta(-0.5, -1.0, "maximize") == pytest.approx(0.5)
    assert relative_delta(1.0, 0.0, "maximize") is None
    assert relative_delta(float("nan"), 1.0, "maximize") is None
