"""What a result is judged by: one metric and whether higher or lower is better.

Every comparison of two numbers (history's delta against the baseline, the debug loop's and the
autonomous mode's best run, eval's improvement, the search's choice of node) goes through
`Objective`, so "better" means the same thing everywhere. A missing or non-finite value is never
better than a finite one, and a relative delta is positive when the value is better.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Literal, NamedTuple, TypeVar

Direction = Literal["maximize", "minimize"]

# Metric names that are better when lower; anything else is taken as higher-is-better.
LOWER_IS_BETTER = ("loss", "error", "err", "perplexity", "ppl", "mse", "mae", "rmse", "wer", "cer",
                   "time", "latency")

T = TypeVar("T")


def guess_direction(metric: str) -> Direction:
    name = metric.lower()
    return "minimize" if any(word in name for word in LOWER_IS_BETTER) else "maximize"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


class Objective(NamedTuple):
    # a NamedTuple, not a dataclass: every command with a workspace makes one, and the
    # `dataclasses` module (with `inspect`) is a start-up cost (tests/cli/test_startup_imports.py)
    metric: str
    direction: Direction = "maximize"

    @classmethod
    def of(cls, metric: str, direction: Direction | None = None) -> Objective:
        """The metric with its direction, guessed from the name when none is given."""
        return cls(metric, direction or guess_direction(metric))

    @property
    def sign(self) -> int:
        return 1 if self.direction == "maximize" else -1

    def better(self, value: float | None, than: float | None) -> bool:
        """Whether `value` is strictly better than `than` (a finite value beats a missing one)."""
        if not _finite(value):
            return False
        if not _finite(than):
            return True
        assert value is not None and than is not None
        return self.sign * value > self.sign * than

    def best(self, items: Iterable[T], value: Callable[[T], float | None]) -> T | None:
        """The item with the best finite value (the first of equals), or None when none has one."""
        chosen: T | None = None
        chosen_value: float | None = None
        for item in items:
            candidate = value(item)
            if self.better(candidate, chosen_value):
                chosen, chosen_value = item, candidate
        return chosen

    def delta(self, value: float | None, baseline: float | None) -> float | None:
        """(value - baseline) / |baseline|, negated when lower is better: positive means better.
        None when either is missing or not finite, or the baseline is 0."""
        if not _finite(value) or not _finite(baseline) or baseline == 0:
            return None
        assert value is not None and baseline is not None
        return self.sign * (value - baseline) / abs(baseline)

    def label(self) -> str:
        return f"{self.metric} ({'higher' if self.direction == 'maximize' else 'lower'} is better)"
