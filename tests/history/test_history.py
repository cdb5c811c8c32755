"""The history table over a real repository with real runs on several commits."""

from __future__ import annotations

import json
import sys

import pytest

from mlr_copilot.history import history, load_runs
from mlr_copilot.objective import Objective
from mlr_copilot.runners.execute import execute
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunRequest
from tests.gitutil import commit, git, make_repo
from tests.lightshape import assert_fields_are_the_models_own

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
    higher, lower = Objective("accuracy", "maximize"), Objective("loss", "minimize")
    assert higher.delta(1.1, 1.0) == pytest.approx(0.1)
    assert lower.delta(0.9, 1.0) == pytest.approx(0.1)
    assert higher.delta(-0.5, -1.0) == pytest.approx(0.5)
    assert higher.delta(1.0, 0.0) is None
    assert higher.delta(float("nan"), 1.0) is None


TWO_METRICS = "v = open('value.txt').read().strip()\nprint(f'METRIC accuracy={v}')\nprint('METRIC f1=0.5')\n"


def plain_run(repo):
    """A run with no primary metric: it only prints METRIC lines."""
    req = RunRequest(workspace=str(repo), command=[sys.executable, "train.py"], timeout=30)
    return execute(req, LocalRunner())


@pytest.fixture
def branches(tmp_path):
    """main with a run, two hypothesis branches with runs, a run on a deleted branch."""
    repo = make_repo(tmp_path / "repo", {"train.py": TWO_METRICS, "value.txt": "0.8\n"}, message="starter")
    runs = {"base": plain_run(repo)}
    for name, value in (("mlr/h1-wider", "0.875"), ("mlr/h2-deeper", "0.7")):
        git(repo, "checkout", "-q", "-b", name, "main")
        commit(repo, {"value.txt": f"{value}\n"}, f"try {name}\n\nMLR-Hypothesis: {name[4:6]}")
        runs[name] = plain_run(repo)
    git(repo, "checkout", "-q", "-b", "gone", "main")
    commit(repo, {"value.txt": "0.1\n"}, "abandoned")
    runs["gone"] = plain_run(repo)
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "gone")
    return repo, runs


def test_all_branches_show_every_hypothesis_branch_and_every_metric(branches):
    repo, runs = branches
    table = history(repo, all_branches=True)
    assert table.branch is None and table.branches == ["main", "mlr/h1-wider", "mlr/h2-deeper"]
    by_run = {row.run_id: row for row in table.rows}
    assert [by_run[runs[k].id].branch for k in ("base", "mlr/h1-wider", "mlr/h2-deeper")] == table.branches
    # no primary metric anywhere: the metric the runs report decides, so value is not null
    assert table.metric == "accuracy" and table.metrics == ["accuracy", "f1"]
    assert by_run[runs["mlr/h1-wider"].id].value == 0.875
    assert by_run[runs["mlr/h1-wider"].id].metrics == {"accuracy": 0.875, "f1": 0.5}
    assert by_run[runs["mlr/h1-wider"].id].delta == pytest.approx(0.09375)
    assert by_run[runs["base"].id].baseline and table.baseline_run == runs["base"].id
    assert by_run[runs["mlr/h2-deeper"].id].hypothesis == "h2"
    # a run whose commit is on no listed branch is still shown, last, under no branch
    assert table.rows[-1].run_id == runs["gone"].id and table.rows[-1].branch is None
    text = table.render_text()
    assert "branches main, mlr/h1-wider, mlr/h2-deeper" in text and "f1" in text and "+9.4%" in text
    assert "(no branch)" in text


def test_one_branch_shows_only_it(branches):
    repo, runs = branches
    table = history(repo, "mlr/h1-wider")
    assert table.branch == "mlr/h1-wider" and table.branches == ["mlr/h1-wider"]
    assert {row.run_id for row in table.rows} == {runs["mlr/h1-wider"].id, runs["base"].id}


def test_csv_and_markdown_hold_every_metric_and_defuse_untrusted_cells(branches):
    import csv
    import io

    from mlr_copilot.history.render import render_csv, render_md

    repo, _runs = branches
    git(repo, "checkout", "-q", "mlr/h1-wider")
    commit(repo, {"value.txt": "0.9\n"}, "=HYPERLINK(\"http://x\") | **bold** \x1b[31m")
    plain_run(repo)
    table = history(repo, all_branches=True)
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    assert len(rows) == len(table.rows) and {"accuracy", "f1", "branch", "run_id"} <= set(rows[0])
    formula = next(row for row in rows if "HYPERLINK" in row["subject"])
    assert formula["subject"].startswith("'=") and "\x1b" not in formula["subject"]
    assert formula["accuracy"] == "0.9" and formula["f1"] == "0.5" and formula["branch"] == "mlr/h1-wider"
    md = render_md(table)
    lines = md.splitlines()
    assert lines[2].startswith("| commit | run | status | accuracy | f1 | delta |")
    assert all(line.count(" | ") == lines[2].count(" | ") for line in lines[2:])
    assert "\\*\\*bold\\*\\*" in md and "\\|" in md and "\x1b" not in md


def test_each_branch_table_flags_exactly_the_row_its_baseline_run_names(repo):
    """The editor's Baseline node reads `baseline_run`, `baseline_value` and the flagged row of
    each table it asks for (one per branch), as JSON."""
    repo, _runs = repo
    for table in (history(repo, "main"), history(repo, "exp"), history(repo, all_branches=True)):
        sent = json.loads(table.to_json())
        flagged = [row for row in sent["rows"] if row["baseline"]]
        assert [row["run_id"] for row in flagged] == [sent["baseline_run"]]
        assert flagged[0]["value"] == sent["baseline_value"] and flagged[0]["delta"] == 0.0


def test_a_run_of_uncommitted_work_shows_under_the_commit_it_was_made_on(tmp_path):
    # runs execute a hidden snapshot commit of a dirty working copy; the table still places
    # them on the row of the commit the user had checked out, marked dirty
    repo = make_repo(tmp_path / "repo", {"train.py": SCRIPT, "value.txt": "2.0\n"}, message="baseline model")
    clean = run(repo)
    (repo / "value.txt").write_text("1.0\n")
    dirty = run(repo)
    assert dirty.uncommitted and dirty.commit != clean.commit and dirty.snapshot_of == clean.commit
    table = history(repo)
    rows = {row.run_id: row for row in table.rows}
    assert rows[dirty.id].commit == rows[clean.id].commit == clean.commit
    assert rows[dirty.id].value == 1.0 and rows[dirty.id].delta == pytest.approx(0.5)


def test_the_historys_reading_of_a_record_is_the_records_own(tmp_path):
    """`RunSummary` (the history's reader, without pydantic) holds only fields of `RunRecord`,
    of the same types, reads a real record as the record reads, and skips what it refuses."""
    from mlr_copilot.runners.model import RunEnvironment, RunRecord
    from mlr_copilot.runners.summary import RunPlace, RunSummary, load_summaries

    for light, model in ((RunSummary, RunRecord), (RunPlace, RunEnvironment)):
        # environment: the nested light reader; runner: a validated str
        assert_fields_are_the_models_own(light, model, loose=("environment", "runner"))
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "value.txt").write_text("nan\n")
    record = run(tmp_path)
    [summary] = load_summaries(tmp_path)
    for name in RunSummary._fields:
        if name == "environment":
            assert (summary.environment.node, summary.environment.runner) == (record.environment.node, record.environment.runner)
        elif name == "metrics":
            assert list(summary.metrics) == list(record.metrics) == ["loss"] and summary.metrics["loss"] != summary.metrics["loss"]
        else:
            assert getattr(summary, name) == getattr(record, name), name
    assert summary.of_commit == record.of_commit
    # what the record refuses, the history skips too: a path for an id, an unknown runner
    path = tmp_path / ".mlr" / "runs" / f"{record.id}.json"
    data = json.loads(path.read_text())
    for bad in ({"id": "../x"}, {"runner": "nowhere"}, {"status": "fine"}, {"metrics": {"loss": "low"}}):
        path.write_text(json.dumps({**data, **bad}))
        assert load_summaries(tmp_path) == load_runs(tmp_path) == []
