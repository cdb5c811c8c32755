"""`mlr-copilot eval`: for each task, its data readied once by its `prepare` command, then K
autonomous attempts, each in a fresh copy, scored with the paper's criterion: success when the
final metric beats the baseline by at least 10% in the metric's direction. A task whose data
could not be readied is reported apart, not scored.

The attempts run concurrently, at most `run.parallel` at once (one slot each): each works in
its own copy with its own engine, so nothing is shared but the terminal, where each line says
which attempt it is from. The report lists the attempts by number, however they overlapped.

`--search` makes each attempt a search session (`search_mode.py`), scored on the seeded means
the search measures; `--compare` runs both modes on each task, the linear one first, so a
researcher reads their success, gain, cost and compute side by side. Compared, both modes are
judged the same way: the linear mode's best run and its baseline are re-run with the search's
seeds too (`search.measure.rerun`), and scored on their means. Alone, the linear mode is scored
on its best run, as before: its `seeds` is 1."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..config import load_settings
from ..engine import Engine
from ..errors import MlrError
from ..objective import Objective
from ..runners.queue import RunCancelledError, SlotQueue
from ..runners.slots import plan_from_settings
from ..search.execute import SessionRuns
from ..search.measure import mean_se, rerun
from ..search.model import Journal, Measured
from ..status import Spend
from ..taskfile import Task, bundled_tasks_root, get_task, list_tasks
from ..work import Work
from .bundled import UnpreparedError, copy_task, paper_from_task, prepare_task
from .pipeline import AutoPipeline
from .search_mode import score, search_session
from .session import SUCCESS_THRESHOLD, AutoState
from .together import relaying, together

Mode = Literal["linear", "search"]
MODES: tuple[Mode, ...] = ("linear", "search")


class EvalAttempt(BaseModel):
    task: str
    attempt: int
    mode: Mode = "linear"
    workspace: str
    status: str
    baseline: float | None = None
    best: float | None = None
    best_run: str | None = None
    best_commit: str | None = None
    improvement: float | None = None
    success: bool = False
    # how many runs `baseline` and `best` each average: the seeded re-runs; 1 for the linear mode's own runs
    seeds: int = 1
    # `baseline` and `best` are means of seeded re-runs (the search; the linear mode when compared)
    seeded: bool = False
    best_se: float | None = None
    nodes: int | None = None
    runs: int = 0
    compute_seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    seconds: float = 0.0
    message: str = ""
    # the slot it held and when it worked (seconds since the epoch): attempts overlap
    slot: int | None = None
    started_at: float | None = None
    finished_at: float | None = None


class TaskSummary(BaseModel):
    task: str
    mode: Mode = "linear"
    metric: str
    direction: str
    attempts: int
    successes: int
    success_rate: float
    mean_improvement: float | None
    # the standard error of that mean over the attempts (None with fewer than two)
    improvement_se: float | None = None
    mean_nodes: float | None = None
    mean_runs: float = 0.0
    mean_compute_seconds: float = 0.0
    mean_tokens: float
    mean_cost_usd: float | None
    mean_seconds: float


class Unprepared(BaseModel):
    task: str
    message: str


class Evaluation(BaseModel):
    tasks: list[TaskSummary] = Field(default_factory=list)
    attempts: list[EvalAttempt] = Field(default_factory=list)
    unprepared: list[Unprepared] = Field(default_factory=list)


def pick_tasks(names: list[str] | None) -> list[Task]:
    if names:
        return [get_task(name) for name in names]
    offline = [t for t in list_tasks(bundled_tasks_root()) if t.kind == "offline"]
    if not offline:
        raise MlrError("no offline task is bundled: name the tasks with --tasks")
    return offline


def _attempt(task: Task, number: int, state: AutoState, workspace: Path, usage: Spend, seconds: float) -> EvalAttempt:
    scored = [h for h in state.hypotheses if h.best is not None]
    # the one whose best run gained most over the baseline (a delta is positive when better)
    best = Objective("improvement").best(scored, lambda h: h.delta) or next(iter(scored), None)
    best_run = best.best if best else None
    # a session that ran to its end with no hypothesis scored (nothing implemented, every run
    # failing) is a failed attempt, never one scored on the baseline's own commit
    failed = state.status == "done" and best is None
    why = "; ".join(f"{h.id}: {h.message}" for h in state.hypotheses if h.status == "failed" and h.message)
    return EvalAttempt(
        task=task.name, attempt=number, workspace=str(workspace), status="failed" if failed else state.status,
        baseline=state.baseline.value if state.baseline else None,
        best=best_run.value if best_run else None, best_run=best_run.run if best_run else None,
        best_commit=best_run.commit if best_run else None, improvement=best.delta if best else None,
        success=any(h.success for h in state.hypotheses),
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cost_usd=usage.cost_usd, seconds=round(seconds, 2), message=state.message or (why if failed else ""),
    )


def _searched(task: Task, number: int, journal: Journal, workspace: Path, usage: Spend, seconds: float) -> EvalAttempt:
    scored = score(journal)
    return EvalAttempt(
        task=task.name, attempt=number, mode="search", workspace=str(workspace), status=journal.status,
        baseline=scored.baseline, best=scored.best, best_se=scored.best_se, seeds=scored.seeds, seeded=scored.seeds > 0,
        best_run=scored.best_run, best_commit=scored.best_commit, improvement=scored.improvement,
        success=scored.success, nodes=scored.nodes, input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens, cost_usd=usage.cost_usd, seconds=round(seconds, 2), message=journal.message,
    )


async def _seeded_linear(engine: Engine, work: Work, state: AutoState, attempt: EvalAttempt) -> EvalAttempt:
    """`attempt` scored as the search scores itself: its best run's commit and the baseline's
    re-run with `search.seeds` seeds each, judged on the two means (its spend counted too)."""
    objective, base = state.objective, state.baseline
    if objective is None or base is None or base.commit is None or attempt.best_commit is None \
            or state.status != "done":
        return attempt
    pair = [Measured(label="baseline", node=None, commit=base.commit),
            Measured(label="best", node=None, commit=attempt.best_commit)]
    clock = time.perf_counter()
    await rerun(engine, work, pair, SessionRuns.of(engine, objective), save=lambda: None)
    delta = objective.delta(pair[1].mean, pair[0].mean)
    usage = engine.usage()
    return attempt.model_copy(update={
        "baseline": pair[0].mean, "best": pair[1].mean, "best_se": pair[1].se, "seeds": len(pair[1].runs),
        "seeded": True, "improvement": delta, "success": delta is not None and delta >= SUCCESS_THRESHOLD,
        "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "cost_usd": usage.cost_usd,
        "seconds": round(attempt.seconds + time.perf_counter() - clock, 2)})


def summarise(task: Task, attempts: list[EvalAttempt]) -> TaskSummary:
    improvements = [a.improvement for a in attempts if a.improvement is not None]
    costs = [a.cost_usd for a in attempts if a.cost_usd is not None]
    nodes = [a.nodes for a in attempts if a.nodes is not None]
    return TaskSummary(
        task=task.name, mode=attempts[0].mode, metric=task.metric.name, direction=task.metric.direction,
        attempts=len(attempts), successes=sum(a.success for a in attempts),
        success_rate=sum(a.success for a in attempts) / len(attempts),
        mean_improvement=statistics.fmean(improvements) if improvements else None,
        improvement_se=mean_se(list(improvements))[1],
        mean_nodes=statistics.fmean(nodes) if nodes else None,
        mean_runs=statistics.fmean(a.runs for a in attempts),
        mean_compute_seconds=statistics.fmean(a.compute_seconds for a in attempts),
        mean_tokens=statistics.fmean(a.input_tokens + a.output_tokens for a in attempts),
        mean_cost_usd=statistics.fmean(costs) if costs else None,
        mean_seconds=statistics.fmean(a.seconds for a in attempts),
    )


async def evaluate(tasks: list[Task], runs: int, workdir: Path, layer: dict[str, Any], work: Work,
                   hypotheses: int = 1, modes: tuple[Mode, ...] = ("linear",)) -> Evaluation:
    settings, _warnings = load_settings(layer)
    # each attempt holds a slot while it works: at most `run.parallel` at once, and
    # `mlr-copilot queue -w WORKDIR` shows (and cancels) them
    queue = SlotQueue(workdir, plan_from_settings(settings.run))
    result = Evaluation()
    for task in tasks:
        if task.prepare:
            work.say(f"{task.name}: readying its data with `{task.prepare}`", None)
            try:
                task = await asyncio.to_thread(prepare_task, task, workdir / task.name / "prepared",
                                               online=settings.ideas.online, timeout=settings.run.timeout)
            except UnpreparedError as exc:
                result.unprepared.append(Unprepared(task=task.name, message=str(exc)))
                continue
        for mode in modes:
            # beside the search, the linear mode is judged as the search is: on seeded means
            trial = Trial(task, runs, workdir, layer, work, hypotheses, threading.Event(), mode, seeded="search" in modes)
            done = await together((trial.attempt_in_slot(queue, number) for number in range(1, runs + 1)),
                                  trial.halt)
            # in the order of their numbers, however they overlapped; those cancelled before they began are left out
            attempts = [attempt for attempt in done if attempt is not None]
            result.attempts += attempts
            if attempts:
                result.tasks.append(summarise(task, attempts))
            if work.cancel.is_set():  # what was done is reported; nothing new starts
                return result
    return result


@dataclass(frozen=True)
class Trial:
    """The attempts at one task: each in its own copy of the task, with its own engine."""

    task: Task
    runs: int
    workdir: Path
    layer: dict[str, Any]
    work: Work
    hypotheses: int
    # set when an attempt fails: the others stop as if cancelled (`together`)
    halt: threading.Event
    mode: Mode = "linear"
    # the linear mode's best run and baseline re-run with seeds, so it is judged as the search is
    seeded: bool = False

    @property
    def kind(self) -> str:
        """What names its attempts' folders and queue entries: the two modes' never collide."""
        return "attempt" if self.mode == "linear" else "search"

    async def attempt_in_slot(self, queue: SlotQueue, number: int) -> EvalAttempt | None:
        """EvalAttempt `number` once a slot is free; None when cancelled before it began."""
        label = f"{self.task.name} #{number}" if self.mode == "linear" else f"{self.task.name} search #{number}"
        try:
            async with queue.lease(f"{self.task.name}-{self.kind}-{number}", gpus=0, node=self.task.name) as lease:
                if self.work.cancel.is_set() or self.halt.is_set():
                    return None
                # its own cancel event: the whole evaluation's, this attempt's from the queue, or a failed sibling's
                own = Work(report=lambda message, percentage: self.work.say(f"{label}: {message}", percentage))
                async with relaying(own.cancel, self.work.cancel, lease.cancelled, self.halt):
                    return await self.attempt(number, own, lease.slot.index, lease.slot.gpu_ids)
        except RunCancelledError:
            return None

    async def attempt(self, number: int, work: Work, slot: int, gpu_ids: tuple[str, ...]) -> EvalAttempt:
        task = self.task
        workspace = copy_task(task, self.workdir / task.name / f"{self.kind}-{number}", with_data=bool(task.prepare))
        # the attempt's runs use its slot's GPUs, one run at a time
        run_layer = {**self.layer.get("run", {}), "parallel": 1, **({"gpuIds": list(gpu_ids)} if gpu_ids else {})}
        # the hypotheses tried are the search's initial drafts, unless the layer says otherwise
        search_layer = {"initial_drafts": self.hypotheses, **self.layer.get("search", {})}
        engine = Engine.load(workspace, {**self.layer, "run": run_layer, "search": search_layer})
        source = task.paper_path if task.paper else paper_from_task(task)
        work.say(f"attempt {number} of {self.runs} in slot {slot}", None)
        started, clock = time.time(), time.perf_counter()
        if self.mode == "search":
            journal = await search_session(engine, work, source, hypotheses=self.hypotheses)
            attempt = _searched(task, number, journal, workspace, engine.usage(), time.perf_counter() - clock)
        else:
            state = await AutoPipeline(engine).run(source, work, wanted=self.hypotheses)
            attempt = _attempt(task, number, state, workspace, engine.usage(), time.perf_counter() - clock)
            if self.seeded:
                attempt = await _seeded_linear(engine, work, state, attempt)
        records = engine.runs()
        return attempt.model_copy(update={
            "runs": len(records), "compute_seconds": round(sum(r.duration_s or 0.0 for r in records), 2),
            "slot": slot, "started_at": started, "finished_at": time.time()})


def _gain(s: TaskSummary) -> str:
    if s.mean_improvement is None:
        return "-"
    return f"{s.mean_improvement:+.1%}" + (f" ± {s.improvement_se:.1%}" if s.improvement_se is not None else "")


def _means(a: EvalAttempt) -> str:
    if a.best is None or a.baseline is None:
        return "not measured with seeds"
    return (f"seeded means over {a.seeds} seed(s): baseline {a.baseline:.4g}, best {a.best:.4g}"
            + (f" ± {a.best_se:.2g}" if a.best_se is not None else ""))


def _attempt_line(a: EvalAttempt) -> str:
    where = f"run {a.best_run} at {(a.best_commit or '?')[:8]}" if a.best_run else a.message or a.status
    gain = f"{a.improvement:+.1%}" if a.improvement is not None else "-"
    if a.mode == "linear":
        scored = _means(a) if a.seeded else f"baseline {a.baseline}, best {a.best}"
        return f"  {a.task} #{a.attempt}: {a.status}, {scored} ({gain}; {where})"
    # why the search stopped ("the node budget is spent"), not its bare status
    return f"  {a.task} search #{a.attempt}: {a.message or a.status}, {a.nodes} node(s), {_means(a)} ({gain}; {where})"


def render(evaluation: Evaluation) -> str:
    """Per task and mode: successes, the mean gain ± its standard error over the attempts, and
    per attempt the nodes (search) / runs, tokens, cost, experiment compute and wall time."""
    header = (f"{'task':<22} {'mode':<6} {'metric':<9} {'success':>7} {'mean gain ± SE':>16} {'nodes/runs':>10} "
              f"{'tokens':>7} {'cost':>8} {'compute s':>9} {'wall s':>7}")
    lines = [header, "-" * len(header)]
    for s in evaluation.tasks:
        cost = f"${s.mean_cost_usd:.4f}" if s.mean_cost_usd is not None else "-"
        made = f"{s.mean_nodes:.1f}/{s.mean_runs:.1f}" if s.mean_nodes is not None else f"-/{s.mean_runs:.1f}"
        lines.append(f"{s.task:<22} {s.mode:<6} {s.metric:<9} {f'{s.successes}/{s.attempts}':>7} {_gain(s):>16} "
                     f"{made:>10} {s.mean_tokens:>7.0f} {cost:>8} {s.mean_compute_seconds:>9.1f} {s.mean_seconds:>7.1f}")
    lines.append("")
    judged = ("on the seeded means of the best and the baseline in both modes" if evaluation.attempts
              and all(a.seeded for a in evaluation.attempts if a.best is not None)
              else "search: on the seeded means; linear: on its best run")
    lines.append(f"success: +10% over the baseline in the metric's direction ({judged}); figures per attempt, averaged")
    lines += [_attempt_line(a) for a in evaluation.attempts]
    if evaluation.unprepared:
        lines.append("\nNot prepared, so not scored:")
        lines += [f"  {u.task}: {u.message}" for u in evaluation.unprepared]
    return "\n".join(lines)
