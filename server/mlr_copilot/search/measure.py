"""Honest results: the winning node and the baseline re-run with K seeds (mean ± standard
error), and the task's separate final evaluation (`final_command`) run once, at the end, on
the winner only. Every number keeps the node, commit and run it came from."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..taskfile import TaskError, load_task
from .execute import run_node
from .model import Journal, Measured, SeedRun

if TYPE_CHECKING:
    from ..engine import Engine
    from ..runners.model import RunRecord
    from ..work import Work

UNFINISHED = ("running", "cancelled", "interrupted")


def mean_se(values: list[float | None]) -> tuple[float | None, float | None]:
    """The mean of the finite values and its standard error (None with fewer than two)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None
    mean = statistics.fmean(finite)
    return mean, (statistics.stdev(finite) / math.sqrt(len(finite)) if len(finite) > 1 else None)


def finished_run(engine: Engine, commit: str, since: str, known: set[str]) -> RunRecord | None:
    """The newest run of `commit` that finished since `since` and the journal does not hold
    yet: a kill between a run's end and the journal's save must not run it again."""
    found = [r for r in engine.runs() if r.of_commit == commit and r.started_at >= since and r.id not in known
             and r.status not in UNFINISHED and not r.baseline]
    return max(found, key=lambda r: r.started_at, default=None)


async def _seeded(engine: Engine, journal: Journal, work: Work, measured: Measured,
                  save: Callable[[Journal], None]) -> None:
    done = {r.seed for r in measured.runs}
    for seed in range(engine.settings.search.seeds):
        if seed in done:
            continue
        work.say(f"Re-running {measured.label} with seed {seed}")
        record = await run_node(engine, work, commit=measured.commit, seed=seed)
        work.check(f"the seeded runs of {measured.label}")
        measured.runs.append(SeedRun(seed=seed, run=record.id, commit=record.commit,
                                     value=record.metrics.get(journal.metric) if record.status == "passed" else None))
        save(journal)
    measured.mean, measured.se = mean_se([r.value for r in measured.runs])
    save(journal)


def _measured(journal: Journal, label: str, node: str | None, commit: str) -> Measured:
    found = next((m for m in journal.measured if m.label == label and m.commit == commit), None)
    if found is None:
        found = Measured(label=label, node=node, commit=commit)
        journal.measured.append(found)
    return found


async def measure(engine: Engine, journal: Journal, work: Work, *, save: Callable[[Journal], None]) -> None:
    best = journal.best()
    if best is None:
        return
    for label, node, commit in (("baseline", None, journal.base_commit), ("best", best.id, best.commit)):
        await _seeded(engine, journal, work, _measured(journal, label, node, commit), save)
    try:
        final = load_task(engine.workspace).final_command
    except TaskError:
        final = None
    if final and journal.final is None:
        work.say(f"Final evaluation of {best.id}")
        record = await run_node(engine, work, commit=best.commit, command=final)
        journal.final_node = best.id
        journal.final = SeedRun(seed=0, run=record.id, commit=record.commit,
                                value=record.metrics.get(journal.metric) if record.status == "passed" else None)
        save(journal)
