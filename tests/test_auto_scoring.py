"""How the autonomous mode scores a hypothesis (`AutoState.score`): its best passed run on the
session's metric in the metric's direction, the relative delta against the baseline (positive
when better), and success at a gain of 10% or more."""

from __future__ import annotations

import pytest

from mlr_copilot.autonomous.session import AutoState, HypothesisResult, RunRef


def ref(run: str, value: float | None, status: str = "passed", metric: str = "loss") -> RunRef:
    return RunRef(run=run, commit=f"c{run}", status=status, metric=metric, value=value)


def scored(direction: str, baseline: float, *runs: RunRef) -> HypothesisResult:
    state = AutoState(paper=None, wanted=1, metric="loss", direction=direction, baseline=ref("base", baseline))
    result = HypothesisResult(id="h1", title="t", branch="b", runs=list(runs))
    state.score(result)
    return result


def test_the_best_run_is_the_lowest_when_lower_is_better_and_failed_runs_never_count():
    result = scored("minimize", 1.0, ref("a", 0.8), ref("b", 0.5, status="failed"), ref("c", 0.85))
    assert result.best is not None and result.best.run == "a"
    assert result.delta == pytest.approx(0.2) and result.success


def test_the_best_run_is_the_highest_when_higher_is_better_and_a_small_gain_is_no_success():
    result = scored("maximize", 0.80, ref("a", 0.82), ref("b", 0.85), ref("c", None))
    assert result.best is not None and result.best.run == "b"
    assert result.delta == pytest.approx(0.0625) and not result.success


def test_a_run_on_another_metric_or_without_a_value_is_no_best():
    result = scored("maximize", 0.8, ref("a", 0.99, metric="accuracy"), ref("b", None))
    assert result.best is None and result.delta is None and not result.success


def test_a_worse_best_run_has_a_negative_delta():
    result = scored("minimize", 1.0, ref("a", 1.5))
    assert result.best is not None and result.delta == pytest.approx(-0.5) and not result.success
