"""Where a run's failures are shown, in the editor and the terminal alike."""

from __future__ import annotations

from mlr_copilot.runners.model import Failure, RunRecord
from mlr_copilot.runners.pinning import Pin, pin


def record(command: str, *failures: Failure) -> RunRecord:
    return RunRecord(id="r1", command=command, runner="local", started_at="2026-12-02T00:00:00Z", failures=list(failures))


def test_a_failure_with_its_own_location_stays_there():
    failure = Failure(path="model.py", line=12, kind="exception", message="boom")
    assert pin(record("python train.py", failure), failure, "results.json") == Pin("model.py", 12)


def test_a_run_wide_failure_is_pinned_at_the_top_of_the_script_the_command_runs():
    failure = Failure(kind="no-metric", message="did not report accuracy")
    assert pin(record("python -u train.py --epochs 3", failure), failure, "results.json") == Pin("train.py", 1)


def test_a_run_wide_failure_of_a_command_with_no_script_is_pinned_at_the_results_file():
    failure = Failure(kind="timeout", message="ran over 60 s")
    assert pin(record("make train", failure), failure, "out/results.json") == Pin("out/results.json", 1)


def test_a_line_below_one_is_the_first_line():
    failure = Failure(path="train.py", line=0, kind="exception", message="boom")
    assert pin(record("python train.py", failure), failure, "results.json").line == 1
