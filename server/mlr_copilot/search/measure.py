"""Honest results: the winning node and the baseline re-run with K seeds (mean ± standard
error), and the task's separate final evaluation (`final_command`) run once, at the end, on
the winner only. Every number keeps the node, commit and run it came from.

The seeded runs and the final evaluation are independent, so they all go to the run queue at
once and run as many at a time as it has slots. Each is saved in the journal as it ends; a
resume runs only what the journal lacks, and takes the record of a run that ended before the
journal was saved (a kill in between) instead of running it again."""

from __future__ import annotations

import asyncio
import math
import statistics
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from ..autonomous.together import relaying, together
from ..taskfile import TaskError, load_task
from ..work import Work
from .execute import SessionRuns, node_command, run_node
from .model import Journal, Measured, SeedRun

if TYPE_CHECKING:
    from ..engine import Engine
    from ..runners.model import RunRecord

UNFINISHED = ("running", "cancelled", "interrupted")
# one run of the measurement, given the Work it runs under (its own cancel)
Job = Callable[[Work], Awaitable[None]]


def mean_se(values: list[float | None]) -> tuple[float | None, float | None]:
    """The mean of the finite values and its standard error (None with fewer than two)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None
    mean = statistics.fmean(finite)
    return mean, (statistics.stdev(finite) / math.sqrt(len(finite)) if len(finite) > 1 else None)


def finished_run(engine: Engine, commit: str, since: str, known: set[str],
                 command: str | None = None) -> RunRecord | None:
    """The newest run of `commit` (running `command`, when given) that finished since `since`
    and the journal does not hold yet: a kill between a run's end and the journal's save must
    not run it again."""
    found = [r for r in engine.runs() if r.of_commit == commit and r.started_at >= since and r.id not in known
             and r.status not in UNFINISHED and not r.baseline and (command is None or r.command == command)]
    return max(found, key=lambda r: r.started_at, default=None)


def _seed_run(seed: int, record: RunRecord, metric: str) -> SeedRun:
    return SeedRun(seed=seed, run=record.id, commit=record.commit,
                   value=record.metrics.get(metric) if record.status == "passed" else None)


async def at_once(work: Work, jobs: Sequence[Job]) -> None:
    """Every job at once, each under a Work of its own that follows `work`'s cancel: the first
    to fail cancels the others (their runs stopped and recorded), then its error is raised."""
    halt = threading.Event()

    async def watched(job: Job) -> None:
        own = Work(report=work.report)
        async with relaying(own.cancel, work.cancel, halt):
            await job(own)

    await together([watched(job) for job in jobs], halt)


async def rerun(engine: Engine, work: Work, measured: Sequence[Measured], runs: SessionRuns, *,
                save: Callable[[], None], since: str | None = None, known: set[str] | None = None,
                also: Sequence[Job] = ()) -> None:
    """Each of `measured` re-run with the `search.seeds` seeds it lacks (as `runs` say, valued
    on their objective's metric), and the `also` jobs, all queued at once; its mean ± SE set
    once every seed is in. With `since`, a finished run of a lacking seed started since then
    and not `known` is taken instead of run again."""
    owed = [(m, seed) for m in measured for seed in range(engine.settings.search.seeds)
            if seed not in {r.seed for r in m.runs}]
    taken = set(known or ())
    jobs = list(also)
    for m, seed in owed:
        command = engine.run_request(node_command(engine, runs.command, seed)).command_text()
        record = None if since is None else await asyncio.to_thread(finished_run, engine, m.commit, since, taken, command)
        if record is not None:
            taken.add(record.id)
            m.runs.append(_seed_run(seed, record, runs.objective.metric))
        else:
            jobs.append(_seeded(engine, runs, m, seed, save))
    for m in measured:
        m.runs.sort(key=lambda r: r.seed)
    save()
    await at_once(work, jobs)
    for m in measured:
        m.mean, m.se = mean_se([r.value for r in m.runs])
    save()


def _seeded(engine: Engine, runs: SessionRuns, measured: Measured, seed: int, save: Callable[[], None]) -> Job:
    async def job(work: Work) -> None:
        work.say(f"Re-running {measured.label} with seed {seed}")
        record = await run_node(engine, work, runs, commit=measured.commit, seed=seed, search_node=measured.node)
        work.check(f"the seeded runs of {measured.label}")
        measured.runs.append(_seed_run(seed, record, runs.objective.metric))
        measured.runs.sort(key=lambda r: r.seed)
        save()

    return job


def _measured(journal: Journal, label: str, node: str | None, commit: str) -> Measured:
    found = next((m for m in journal.measured if m.label == label and m.commit == commit), None)
    if found is None:
        found = Measured(label=label, node=node, commit=commit)
        journal.measured.append(found)
    return found


def _final(engine: Engine, runs: SessionRuns, journal: Journal, node: str, commit: str, command: str,
           save: Callable[[Journal], None]) -> Job:
    async def job(work: Work) -> None:
        text = engine.run_request(command).command_text()
        record = await asyncio.to_thread(finished_run, engine, commit, journal.started_at, journal.run_ids(), text)
        if record is None:
            work.say(f"Final evaluation of {node}")
            record = await run_node(engine, work, runs, commit=commit, command=command, search_node=node)
            work.check("the final evaluation")
        journal.final_node, journal.final = node, _seed_run(0, record, journal.metric)
        save(journal)

    return job


async def measure(engine: Engine, journal: Journal, work: Work, runs: SessionRuns, *,
                  save: Callable[[Journal], None]) -> None:
    best = journal.best()
    if best is None:
        return
    pair = [_measured(journal, "baseline", None, journal.base_commit), _measured(journal, "best", best.id, best.commit)]
    try:
        final = load_task(engine.workspace).final_command
    except TaskError:
        final = None
    also = [_final(engine, runs, journal, best.id, best.commit, final, save)] if final and journal.final is None else []
    await rerun(engine, work, pair, runs, save=lambda: save(journal), since=journal.started_at,
                known=journal.run_ids(), also=also)

