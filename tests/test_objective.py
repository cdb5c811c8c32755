import math

import pytest

from mlr_copilot.objective import Objective, guess_direction


def test_direction_is_guessed_from_the_metric_name():
    assert guess_direction("val_loss") == "minimize"
    assert guess_direction("RMSE") == "minimize"
    assert guess_direction("accuracy") == "maximize"
    assert Objective.of("loss").direction == "minimize"
    assert Objective.of("loss", "maximize").direction == "maximize"


@pytest.mark.parametrize("direction,value,than,expected", [
    ("maximize", 0.9, 0.8, True), ("maximize", 0.8, 0.9, False), ("maximize", 0.8, 0.8, False),
    ("minimize", 0.1, 0.2, True), ("minimize", 0.3, 0.2, False),
    ("maximize", 0.1, None, True), ("maximize", None, 0.1, False), ("maximize", math.nan, 0.1, False),
    ("minimize", 5.0, math.inf, True), ("minimize", math.inf, None, False),
])
def test_better_respects_direction_and_never_prefers_a_missing_value(direction, value, than, expected):
    assert Objective("m", direction).better(value, than) is expected


def test_best_picks_the_best_finite_value_and_the_first_of_equals():
    rows = [("a", None), ("b", 0.5), ("c", 0.7), ("d", 0.7), ("e", math.nan)]
    assert Objective("acc").best(rows, lambda r: r[1]) == ("c", 0.7)
    assert Objective("loss", "minimize").best(rows, lambda r: r[1]) == ("b", 0.5)
    assert Objective("acc").best([("x", None)], lambda r: r[1]) is None


def test_delta_is_relative_and_positive_when_better():
    assert Objective("acc").delta(0.88, 0.8) == pytest.approx(0.1)
    assert Objective("loss", "minimize").delta(0.9, 1.0) == pytest.approx(0.1)
    assert Objective("loss", "minimize").delta(1.1, 1.0) == pytest.approx(-0.1)
    assert Objective("acc").delta(0.5, -1.0) == pytest.approx(1.5)
    assert Objective("acc").delta(0.5, 0.0) is None
    assert Objective("acc").delta(None, 0.5) is None
    assert Objective("acc").delta(math.inf, 0.5) is None
