"""`compare`: two real runs on real commits side by side, through the engine and the CLI."""

from __future__ import annotations

import json

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from tests.cli.test_cli import cli, no_traceback
from tests.gitutil import commit, git
from tests.lightshape import assert_fields_are_the_models_own

from .test_history import branches, plain_run  # noqa: F401  (the fixture)


def test_compare_shows_metrics_settings_and_the_code_diff(branches):  # noqa: F811
    repo, runs = branches
    comparison = Engine.load(repo).compare(runs["base"].id, runs["mlr/h1-wider"].id)
    metrics = {m.name: m for m in comparison.metrics}
    assert list(metrics) == ["accuracy", "f1"]
    assert metrics["accuracy"].a == 0.8 and metrics["accuracy"].b == 0.875
    assert metrics["accuracy"].delta == pytest.approx(0.075) and metrics["accuracy"].relative == pytest.approx(0.09375)
    assert metrics["f1"].delta == 0.0
    settings = {s.name: s for s in comparison.settings}
    assert settings["runner"].same and settings["command"].same
    # what happened is no setting: a run's duration or start time always "differs"
    assert list(settings) == ["command", "runner", "image"]
    facts = {f.name: f for f in comparison.facts}
    assert not facts["branch"].same and {"status", "started_at", "duration_s"} <= set(facts)
    assert "-0.8\n+0.875" in comparison.diff and "value.txt" in comparison.diff
    text = comparison.render_text()
    assert "accuracy: 0.8 -> 0.875, +0.075 (+9.4% better)" in text and "+0.875" in text
    assert f"branch: {runs['base'].branch} | mlr/h1-wider" in text.split("runs:")[1]


def test_secrets_files_are_named_not_shown_and_same_commit_has_no_diff(branches):  # noqa: F811
    repo, runs = branches
    git(repo, "checkout", "-q", "mlr/h1-wider")
    commit(repo, {".env": "OPENAI_API_KEY=sk-live-secret-value\n", "value.txt": "0.9\n"}, "with a key")
    later = plain_run(repo)
    again = plain_run(repo)
    engine = Engine.load(repo)
    comparison = engine.compare(runs["base"].id, later.id)
    assert comparison.secret_files == [".env"] and "sk-live" not in comparison.diff and "+0.9" in comparison.diff
    assert "content not shown: .env" in comparison.render_text()
    same = engine.compare(later.id, again.id)
    assert same.diff == "" and same.diff_notes == ["same commit: no code difference"]


def test_a_planted_commit_is_refused_as_an_option_and_writes_nothing(branches, tmp_path):  # noqa: F811
    repo, runs = branches
    target = tmp_path / "owned.txt"
    record = json.loads((repo / ".mlr" / "runs" / f"{runs['gone'].id}.json").read_text())
    record.update(id="planted", commit=f"--output={target}")
    (repo / ".mlr" / "runs" / "planted.json").write_text(json.dumps(record))
    comparison = Engine.load(repo).compare(runs["base"].id, "planted")
    assert comparison.diff == "" and "names starting with '-' are refused" in comparison.diff_notes[0]
    assert not target.exists()
    with pytest.raises(MlrError, match="no run 'nope'"):
        Engine.load(repo).compare(runs["base"].id, "nope")


def test_compare_cli_text_and_json(branches):  # noqa: F811
    repo, runs = branches
    shown = cli("compare", runs["base"].id, runs["mlr/h2-deeper"].id, "-w", str(repo))
    no_traceback(shown)
    assert shown.returncode == 0 and "accuracy: 0.8 -> 0.7" in shown.stdout and "worse" in shown.stdout
    data = json.loads(cli("compare", runs["base"].id, runs["mlr/h2-deeper"].id, "--json", "-w", str(repo)).stdout)
    assert data["run_a"] == runs["base"].id and data["metrics"][0]["name"] == "accuracy" and "+0.7" in data["diff"]
    missing = cli("compare", runs["base"].id, "../etc", "-w", str(repo))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "is not a run id" in missing.stderr


def test_compare_shows_where_the_environments_differ(branches):  # noqa: F811
    """The demo's 0.7334 in Docker against 0.7348 locally came from scikit-learn 1.2.1 against
    1.9.1: compare names such a difference."""
    repo, runs = branches
    a, b = runs["base"].id, runs["mlr/h1-wider"].id
    for run_id, version, runner in ((a, "1.2.1", "docker"), (b, "1.9.1", "local")):
        path = repo / ".mlr" / "runs" / f"{run_id}.json"
        record = json.loads(path.read_text())
        record["environment"] = {"python": "3.11.2", "runner": runner, "node": "n1",
                                 "packages": {"scikit-learn": version, "numpy": "1.26.4"}}
        path.write_text(json.dumps(record))
    comparison = Engine.load(repo).compare(a, b)
    changes = {c.what: (c.a, c.b) for c in comparison.environment}
    assert changes == {"runner": ("docker", "local"), "package scikit-learn": ("1.2.1", "1.9.1")}
    text = comparison.render_text()
    assert "package scikit-learn: 1.2.1 | 1.9.1" in text and "numpy" not in text.split("environment:")[1].split("code diff")[0]


def test_the_light_readers_of_a_record_are_the_records_own(branches):  # noqa: F811
    """`RunSetup` and `EnvironmentSummary` (compare's readers, without pydantic) hold only
    fields of `RunRecord` and `RunEnvironment`, of the same types, and read a real record as
    the record reads."""
    from mlr_copilot.history.compare import read_run
    from mlr_copilot.runners.envsummary import EnvironmentSummary, RunSetup
    from mlr_copilot.runners.model import RunEnvironment, RunRecord

    # environment: the nested light reader; runner: a validated str
    assert_fields_are_the_models_own(RunSetup, RunRecord, loose=("environment",))
    assert_fields_are_the_models_own(EnvironmentSummary, RunEnvironment, loose=("runner",))
    repo, runs = branches
    record = runs["mlr/h1-wider"]
    read = read_run(repo, record.id)
    assert read.setup.environment is not None and record.environment is not None
    assert read.setup.environment._asdict() == record.environment.model_dump()
    assert (read.setup.branch, read.setup.image) == (record.branch, record.image) == ("mlr/h1-wider", None)
    assert (read.summary.id, read.summary.commit, read.summary.metrics) == (record.id, record.commit, record.metrics)


def test_compare_json_is_what_the_pydantic_model_wrote(branches):  # noqa: F811
    """`compare --json` as it was when the comparison was a pydantic model: NaN and infinities
    as the JSON constants, 1e-05 as pydantic writes it (0.00001), text as it is."""
    from pydantic import ConfigDict, RootModel

    from mlr_copilot.history.compare import RunComparison

    class AsModel(RootModel[RunComparison]):
        model_config = ConfigDict(ser_json_inf_nan="constants")

    repo, runs = branches
    a, b = runs["base"].id, runs["mlr/h2-deeper"].id
    path = repo / ".mlr" / "runs" / f"{b}.json"
    record = json.loads(path.read_text())
    record["metrics"].update(accuracy=float("nan"), lr=1e-05, tiny=2.5e-08, huge=1e16, worst=float("-inf"))
    record["environment"] = {"python": "3.11.2", "runner": "docker", "node": "nœud", "gpus": ["A100"],
                             "packages": {"torch": "2.1"}, "image": "mlr-python:bookworm", "image_id": "sha256:ab"}
    path.write_text(json.dumps(record))
    comparison = Engine.load(repo).compare(a, b)
    assert comparison.to_json() == AsModel(comparison).model_dump_json(indent=2)
    shown = cli("compare", a, b, "--json", "-w", str(repo))
    assert shown.stdout == comparison.to_json() + "\n"
    assert '"b": NaN' in shown.stdout and '"b": 0.00001' in shown.stdout and '"b": 2.5e-8' in shown.stdout


def test_the_same_run_twice_and_runs_without_commits(branches):  # noqa: F811
    repo, runs = branches
    run_id = runs["base"].id
    same = cli("compare", run_id, run_id, "-w", str(repo))
    assert same.returncode == 0 and same.stderr == ""
    assert "same commit: no code difference" in same.stdout and "accuracy: 0.8 -> 0.8, +0 (+0.0% same)" in same.stdout
    for name in ("loose-a", "loose-b"):
        record = json.loads((repo / ".mlr" / "runs" / f"{run_id}.json").read_text())
        record.update(id=name, commit=None)
        (repo / ".mlr" / "runs" / f"{name}.json").write_text(json.dumps(record))
    comparison = Engine.load(repo).compare("loose-a", "loose-b")
    assert comparison.diff == "" and comparison.commit_a is None
    assert comparison.diff_notes == ["no code diff: run loose-a has no commit, run loose-b has no commit"]
    shown = cli("compare", run_id, "loose-b", "-w", str(repo))
    assert shown.returncode == 0 and "run B loose-b at no commit" in shown.stdout
    assert "no code diff: run loose-b has no commit" in shown.stdout


def test_runs_on_different_branches_show_each_branch_and_the_diff(branches):  # noqa: F811
    repo, runs = branches
    shown = cli("compare", runs["mlr/h1-wider"].id, runs["mlr/h2-deeper"].id, "-w", str(repo))
    assert shown.returncode == 0 and shown.stderr == ""
    assert "branch: mlr/h1-wider | mlr/h2-deeper" in shown.stdout
    assert "-0.875\n+0.7" in shown.stdout and "1 file changed" in shown.stdout


@pytest.mark.parametrize("content, why", [
    ('{"id": "broken", "commit": ', "Expecting value"),  # cut short by a full disk
    ("[]", "not an object"),
    (None, "status: 'weird' is not one of"),  # a field of the wrong kind
    ("{}", "is missing"),
])
def test_a_record_that_cannot_be_read_is_one_line_and_nothing_on_stdout(branches, content, why):  # noqa: F811
    repo, runs = branches
    path = repo / ".mlr" / "runs" / "broken.json"
    if content is None:
        record = json.loads((repo / ".mlr" / "runs" / f"{runs['base'].id}.json").read_text())
        record.update(id="broken", status="weird")
        content = json.dumps(record)
    path.write_text(content)
    for argv in (("compare", runs["base"].id, "broken"), ("compare", "broken", runs["base"].id, "--json")):
        shown = cli(*argv, "-w", str(repo))
        no_traceback(shown)
        assert shown.returncode == 2 and shown.stdout == "" and shown.stderr.count("\n") == 1
        assert f"the record of run 'broken' ({path}) cannot be read" in shown.stderr and why in shown.stderr
    with pytest.raises(MlrError, match="cannot be read"):
        Engine.load(repo).compare(runs["base"].id, "broken")


def test_an_unknown_run_is_one_line_and_nothing_on_stdout(branches):  # noqa: F811
    repo, runs = branches
    for argv in (("compare", runs["base"].id, "20990101-000000-abcdef"), ("compare", "nope", runs["base"].id, "--json")):
        shown = cli(*argv, "-w", str(repo))
        no_traceback(shown)
        assert shown.returncode == 2 and shown.stdout == "" and shown.stderr.count("\n") == 1
        assert "mlr-copilot compare: no run '" in shown.stderr
