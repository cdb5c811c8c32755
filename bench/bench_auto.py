"""What the agent costs beyond the experiment and the LLM. Run by hand, prints figures.

    python bench/bench_auto.py [--runner auto|local|docker] [--tasks a,b] [--skip-demo]
                               [--hypotheses-only] [--seconds 5]

For the demo and each offline bundled task, per phase: the wall time; the experiment's own
time (the runs' `duration_s`, as the runner measured them, sandbox start included); the LLM's
time (measured around every `LLM.complete`, retries included; the scripted provider answers at
once); the agent's overhead = wall - experiment - LLM; the input and output tokens.

1. The demo as `mlr-copilot demo`, a process of its own: its phases come from
   `.mlr/auto/state.json`, and what lies outside them (start-up, the task's copy, the
   repository set-up, the report and history) is a row of its own.
2. Each offline task in a fresh git copy, with one engine in this process as the server runs
   them (warm: one implement step is made, unmeasured, first): the baseline run; one implement
   step driven by a scripted reply that changes a constant in train.py, accepted and committed
   (tokens estimated from the real prompt); a run of that commit. Then the same run again as
   `mlr-copilot run`, a process of its own.

3. Hypotheses at once: a whole `auto` session in this process (scripted ideas, two hypotheses
   each implemented by one scripted step, local runs) whose hypotheses' experiments sleep
   `--seconds` (the baseline's is short: it runs alone either way), at run.parallel 1 and 2.
   With two slots the second hypothesis's run goes on beside the first's.

Target: the agent's overhead < 5% of the wall time. Every process also pays for Python's and
the package's start-up, measured on its own (an empty `mlr-copilot run`) as the floor that no
run shorter than 20 times it can get under. Hypotheses at once: the session on two slots
>= 1.5x faster than on one.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TARGET_PERCENT = 5.0
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
CLI = [sys.executable, "-m", "mlr_copilot.cli"]
FLOOR_REPEAT = 5
# The implement step's edit for tasks whose train.py has no integer constant to bump.
EDITS = {"review-sentiment": ("    model = MultinomialNB()\n", "    model = MultinomialNB(alpha=0.5)\n")}
CONSTANT = re.compile(r"^([A-Z][A-Z0-9_]*) = (\d+)\n", re.MULTILINE)
# The demo's ledger tasks ("implement:h1") by the autonomous phase that spends them.
DEMO_PHASE_OF_TASK = {"ideas": "ideas", "implement": "implement", "debug": "run+debug"}
HYPOTHESES_SPEEDUP_TARGET = 1.5


@dataclass
class Phase:
    name: str
    wall: float
    experiment: float = 0.0
    llm: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def overhead(self) -> float:
        return self.wall - self.experiment - self.llm

    @property
    def share(self) -> float:
        return 100 * self.overhead / self.wall if self.wall > 0 else float("inf")


def total(name: str, phases: list[Phase]) -> Phase:
    return Phase(name, *(sum(getattr(p, field) for p in phases)
                         for field in ("wall", "experiment", "llm", "tokens_in", "tokens_out")))


def verdict(phase: Phase) -> str:
    return "PASS" if phase.share < TARGET_PERCENT else "FAIL"


def print_phases(phases: list[Phase], totals: list[Phase]) -> None:
    print(f"{'phase':<16} {'wall s':>8} {'exp s':>8} {'LLM s':>7} {'overhead ms':>12} {'of wall':>8} {'in tok':>7} {'out tok':>7}")
    for p in phases + totals:
        print(f"{p.name:<16} {p.wall:8.2f} {p.experiment:8.2f} {p.llm:7.3f} {p.overhead * 1000:12.0f} {p.share:7.1f}% "
              f"{p.tokens_in:7d} {p.tokens_out:7d}" + (f"  {verdict(p)}" if p in totals else ""))


def time_llm_calls() -> dict[str, float]:
    """Seconds spent in LLM calls from now on in this process, per ledger task: the wall time
    of each `LLM.complete` (the provider's call, its retries and the accounting)."""
    from mlr_copilot.llm.client import LLM

    seconds: dict[str, float] = defaultdict(float)
    complete = LLM.complete

    async def timed(self, messages, *, task: str, **kwargs):
        started = time.perf_counter()
        try:
            return await complete(self, messages, task=task, **kwargs)
        finally:
            seconds[task] += time.perf_counter() - started

    LLM.complete = timed
    return seconds


def child(out: Path, argv: list[str]) -> int:
    """`mlr-copilot ARGV` in this process, leaving the LLM's seconds per task in `out`."""
    from mlr_copilot.cli import main

    seconds = time_llm_calls()
    try:
        return main(argv)
    finally:
        out.write_text(json.dumps(seconds), encoding="utf-8")


def sample_run(root: Path, count: int = 1, *, metric: str = "accuracy", direction: str = "maximize",
               status: str = "accepted"):
    """A proposal of `count` hypotheses as the ideas phase would save it; the autonomous
    benchmark implements the first, accepted one, bench_lsp_logs shows code lenses on five."""
    from mlr_copilot.ideas.model import ExperimentPlan, Hypothesis, IdeasRun

    hypotheses = [
        Hypothesis(
            id=f"h{n}", paper="bench", rank=n, status=status,
            title=f"Change {n}: a tuned constant in the training script",
            problem="The baseline's settings were never tuned.", method="Change one constant and rerun.",
            rationale="A cheap, reviewable change that the run can confirm or refute.",
            plan=ExperimentPlan(dataset="the task's bundled data", model="the baseline model", baseline="train.py as given",
                                metric=metric, direction=direction, steps=["Change the constant", "Run and compare"],
                                expected_improvement="small"),
            scores={"novelty": 2, "feasibility": 9, "expected_gain": 3},
        )
        for n in range(1, count + 1)
    ]
    return IdeasRun(paper_path=str(root / "paper.pdf"), paper_slug="bench", paper_title="Bench", hypotheses=hypotheses)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True)


def fresh_copy(task, root: Path) -> Path:
    from mlr_copilot.autonomous.bundled import copy_task

    target = copy_task(task, root / task.name)
    git(target, "init", "-q", "--initial-branch=main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "starter code")
    return target


def run_records(workspace: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((workspace / ".mlr" / "runs").glob("*.json"))]


def timed_process(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=GIT_ENV, capture_output=True, text=True)
    return time.perf_counter() - started, done


def cli_run(workspace: Path, runner: str, *command: str) -> Phase:
    """`mlr-copilot run` as a process: its wall time against the run's own duration."""
    wall, done = timed_process([*CLI, "run", "--json", "--runner", runner, "--workspace", str(workspace), *command], workspace)
    if done.returncode != 0:
        raise SystemExit(f"mlr-copilot run in {workspace} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return Phase("cli run", wall, json.loads(done.stdout)["duration_s"])


def bench_demo(root: Path, runner: str) -> tuple[Phase, Phase]:
    """(its phases, the whole process) of `mlr-copilot demo`."""
    from mlr_copilot.state import read_json

    target = root / "demo"
    seconds_file = root / "demo-llm-seconds.json"
    wall, done = timed_process([sys.executable, __file__, "--child", str(seconds_file), "demo", "--workspace", str(target),
                                "--runner", runner], root)
    if done.returncode != 0:
        print(f"demo: exited {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    state = read_json(target / ".mlr" / "auto" / "state.json") or {}
    llm_seconds = json.loads(seconds_file.read_text()) if seconds_file.is_file() else {}
    records = run_records(target)
    run_seconds = {"baseline": sum(r["duration_s"] or 0 for r in records if r.get("baseline")),
                   "run+debug": sum(r["duration_s"] or 0 for r in records if not r.get("baseline"))}
    phases = {name: Phase(name, seconds, run_seconds.get(name, 0.0)) for name, seconds in state.get("phase_seconds", {}).items()}
    for task, usage in state.get("usage", {}).get("tasks", {}).items():
        phase = phases[DEMO_PHASE_OF_TASK[task.split(":")[0]]]
        phase.llm += llm_seconds.get(task, 0.0)
        phase.tokens_in += usage["input_tokens"]
        phase.tokens_out += usage["output_tokens"]
    in_phases = total("phases", list(phases.values()))
    outside = Phase("outside phases", wall - in_phases.wall)
    process = total("process", [in_phases, outside])

    print(f"== demo (review-sentiment, runner {runner}, {len(records)} runs on "
          f"{', '.join(sorted({r['runner'] for r in records})) or '-'}): status {state.get('status')}")
    print_phases([*phases.values(), outside], [in_phases, process])
    print("phases: the engine's work (first-use imports included: the process is fresh); outside phases: start-up, "
          "the task's copy, the repository set-up, the report and history\n")
    return in_phases, process


def script_for(train: str, name: str) -> tuple[str, str, str]:
    """(search, replace, description) of the implement step's edit to train.py."""
    if name in EDITS:
        search, replace = EDITS[name]
        return search, replace, replace.strip()
    match = CONSTANT.search(train)
    if match is None:
        raise SystemExit(f"{name}: train.py has no integer constant to change; add an entry to EDITS")
    replace = f"{match.group(1)} = {int(match.group(2)) + 1}\n"
    return match.group(0), replace, replace.strip()


def write_script(path: Path, search: str, replace: str, what: str) -> None:
    step = (f"SUMMARY: {what}\nWHY: a tuned constant is the smallest change the run can judge.\n\n"
            f"train.py\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n")
    records = [{"call": "implement.step", "response": step, "expect": ["train.py"]},
               {"call": "implement.step", "response": "DONE: the constant is changed."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


PHASES = ("baseline", "implement", "run")


async def engine_phases(workspace: Path, settings: dict, llm_seconds: dict[str, float], names=PHASES) -> list[Phase]:
    """Baseline, implement and run (or those of `names`) with one engine, as the server runs them."""
    from mlr_copilot.autonomous.pipeline import accept_all
    from mlr_copilot.engine import Engine
    from mlr_copilot.work import Work

    engine = Engine.load(workspace, settings)
    phases = []

    async def measure(name: str, action):
        usage, llm = engine.usage(), sum(llm_seconds.values())
        started = time.perf_counter()
        result = await action
        wall = time.perf_counter() - started
        after = engine.usage()
        phases.append(Phase(name, wall, getattr(result, "duration_s", 0.0) or 0.0, sum(llm_seconds.values()) - llm,
                            after.input_tokens - usage.input_tokens, after.output_tokens - usage.output_tokens))
        return result

    async def confirm(_problem: str) -> bool:
        return True

    actions = {"baseline": lambda: engine.run(Work(), baseline=True),
               "implement": lambda: engine.implement("h1", accept_all, Work(), confirm),
               "run": lambda: engine.run(Work())}
    for name in names:
        result = await measure(name, actions[name]())
        failed = result.status not in ("passed", "done") or (name == "implement" and not result.commits)
        if failed:
            raise SystemExit(f"{workspace.name}: {name} ended {result.status}: {getattr(result, 'message', '')}")
    return phases


def prepare_task(task, root: Path, runner: str) -> tuple[Path, dict, str]:
    """A fresh git copy of the task in `root` with one accepted hypothesis and the scripted reply
    that implements it: (workspace, settings, the edit)."""
    from mlr_copilot.ideas.store import IdeaStore
    from mlr_copilot.state import StateDir

    workspace = fresh_copy(task, root)
    IdeaStore(StateDir(workspace)).save(sample_run(workspace, metric=task.metric.name, direction=task.metric.direction))
    train = (workspace / "train.py").read_text(encoding="utf-8")
    search, replace, what = script_for(train, task.name)
    script = StateDir(workspace).folder("bench") / "script.jsonl"
    write_script(script, search, replace, what)
    settings = {"llm": {"provider": "scripted", "script": str(script)}, "ideas": {"online": False}, "run": {"runner": runner}}
    return workspace, settings, what


def warm_up(task, root: Path, runner: str) -> None:
    """One implement step, not measured: a server's first one imports and loads what its later
    ones find ready (about 0.25 s once per session)."""
    workspace, settings, _ = prepare_task(task, root / "warm-up", runner)
    asyncio.run(engine_phases(workspace, settings, {}, names=("implement",)))


def bench_task(task, root: Path, runner: str, llm_seconds: dict[str, float]) -> dict:
    workspace, settings, what = prepare_task(task, root, runner)
    phases = asyncio.run(engine_phases(workspace, settings, llm_seconds))
    cli = cli_run(workspace, runner)
    steps = [json.loads(line) for line in (workspace / ".mlr" / "implement" / "h1" / "log.jsonl").read_text().splitlines()]
    step = next(s for s in steps if s["event"] == "step")
    runners = sorted({r["runner"] for r in run_records(workspace)})
    return {"task": task.name, "runners": runners, "phases": phases, "cli": cli, "edit": what,
            "step": {k: v for k, v in step.items() if k.endswith("_s")}}


def print_task(result: dict) -> None:
    print(f"== {result['task']} (runs on {', '.join(result['runners'])}; edit `{result['edit']}`)")
    print_phases(result["phases"], [total("engine total", result["phases"]), result["cli"]])
    print("implement step: " + ", ".join(f"{k[:-2]} {v * 1000:.0f} ms" for k, v in result["step"].items()) + "\n")


def startup_floor(root: Path, runner: str) -> tuple[float, Phase]:
    """The median wall time of `python -c pass`, and the median of an empty `mlr-copilot run`:
    what any process pays before and after the experiment, whatever it runs."""
    workspace = root / "empty"
    workspace.mkdir()
    (workspace / "README.md").write_text("empty\n")
    git(workspace, "init", "-q", "--initial-branch=main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "empty")
    bare = statistics.median(timed_process([sys.executable, "-c", "pass"], workspace)[0] for _ in range(FLOOR_REPEAT))
    runs = [cli_run(workspace, runner, "--", sys.executable, "-c", "print('METRIC x=1')") for _ in range(FLOOR_REPEAT)]
    return bare, sorted(runs, key=lambda p: p.overhead)[FLOOR_REPEAT // 2]


PARALLEL_TASK = """name = "parallel-bench"
title = "Score a mode"
kind = "offline"
description = "Raise the score that train.py writes to results.json."
command = "python train.py"

[metric]
name = "score"
direction = "maximize"
"""
PARALLEL_TRAIN = """import json, time
MODE = "base"
time.sleep(0.2 if MODE == "base" else {seconds})
with open("results.json", "w") as out:
    json.dump({{"score": {{"base": 0.5, "a": 0.6, "b": 0.7}}[MODE]}}, out)
"""


def parallel_script(path: Path) -> Path:
    """The demo's ideas (without their checks of the demo paper's text), then one step and DONE
    for each of two hypotheses: mode a, mode b."""
    from mlr_copilot.autonomous.demo import demo_files

    records = [record for record in map(json.loads, demo_files()[1].read_text().splitlines())
               if record["call"].startswith("ideas.")]
    for record in records:
        record.pop("expect", None)
    for mode in ("a", "b"):
        step = (f"SUMMARY: Score with mode {mode}\nWHY: The plan asks for it.\n\ntrain.py\n<<<<<<< SEARCH\n"
                f"MODE = \"base\"\n=======\nMODE = \"{mode}\"\n>>>>>>> REPLACE\n")
        records += [{"call": "implement.step", "response": step},
                    {"call": "implement.step", "response": "DONE: the plan is implemented."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def auto_session(root: Path, seconds: float, parallel: int, name: str) -> tuple[float, dict[str, float]]:
    """(wall time, phase seconds) of one `auto` session with two hypotheses, in `root/name`."""
    from mlr_copilot.autonomous.bundled import paper_from_task
    from mlr_copilot.autonomous.pipeline import AutoPipeline
    from mlr_copilot.engine import Engine
    from mlr_copilot.taskfile import load_task
    from mlr_copilot.work import Work

    workspace = root / name
    workspace.mkdir(parents=True)
    (workspace / "task.toml").write_text(PARALLEL_TASK)
    (workspace / "train.py").write_text(PARALLEL_TRAIN.format(seconds=seconds))
    (workspace / ".gitignore").write_text("results.json\n")
    git(workspace, "init", "-q", "--initial-branch=main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "starter code")
    script = parallel_script(root / f"{name}.jsonl")
    engine = Engine.load(workspace, {"llm": {"provider": "scripted", "script": str(script)}, "ideas": {"online": False},
                                     "run": {"runner": "local", "parallel": parallel}})
    started = time.perf_counter()
    state = asyncio.run(AutoPipeline(engine).run(paper_from_task(load_task(workspace)), Work(), wanted=2))
    wall = time.perf_counter() - started
    if state.status != "done" or [h.status for h in state.hypotheses] != ["done", "done"]:
        raise SystemExit(f"the session in {workspace} ended {state.status}: {state.message}")
    return wall, state.phase_seconds


def bench_hypotheses(root: Path, seconds: float) -> str:
    """The verdict of two hypotheses' runs on one slot against two."""
    print(f"== hypotheses at once: an auto session, 2 hypotheses with experiments of {seconds:g} s, local runner")
    # the first session of a process imports the agents and the run machinery: not measured
    auto_session(root, 0.1, 2, "warm-up")
    walls = {}
    for parallel in (1, 2):
        wall, phases = auto_session(root, seconds, parallel, f"parallel-{parallel}")
        walls[parallel] = wall
        print(f"  run.parallel {parallel}: wall {wall:6.2f} s  (" + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()) + ")")
    speedup = walls[1] / walls[2]
    verdict = "PASS" if speedup >= HYPOTHESES_SPEEDUP_TARGET else "FAIL"
    print(f"  speed-up {speedup:.2f}x  target >= {HYPOTHESES_SPEEDUP_TARGET}x  {verdict}\n")
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner", choices=["auto", "local", "docker"], default="auto")
    parser.add_argument("--tasks", help="comma-separated offline task names (default: all)")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--hypotheses-only", action="store_true", help="only the session of two hypotheses at once")
    parser.add_argument("--seconds", type=float, default=5.0, help="each hypothesis's experiment (default 5)")
    # internal: run `mlr-copilot ARGV` here with its LLM calls timed (the demo's process)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.argv)

    from mlr_copilot.taskfile import bundled_tasks_root, list_tasks

    root = Path(tempfile.mkdtemp(prefix="mlr-bench-auto-"))
    print(f"work folder {root}\n")
    hypotheses = bench_hypotheses(root, args.seconds)
    if args.hypotheses_only:
        return 0 if hypotheses == "PASS" else 1
    demo = None if args.skip_demo else bench_demo(root, args.runner)
    wanted = set(args.tasks.split(",")) if args.tasks else None
    tasks = [t for t in list_tasks(bundled_tasks_root()) if t.kind == "offline" and (wanted is None or t.name in wanted)]
    # The tasks' phases run in a warm engine, as in a server that has already run and implemented
    # once: a session's first-use costs are paid once, and a process's start-up has rows of its own.
    for module in ["mlr_copilot.runners.execute", "mlr_copilot.runners.local"] + (
            [] if args.runner == "local" else ["mlr_copilot.runners.docker", "docker"]):
        importlib.import_module(module)
    if tasks:
        warm_up(tasks[0], root, args.runner)
    llm_seconds = time_llm_calls()
    results = []
    for task in tasks:
        results.append(bench_task(task, root, args.runner, llm_seconds))
        print_task(results[-1])
    bare, empty = startup_floor(root, args.runner)

    print(f"== overall: agent overhead against {TARGET_PERCENT:g}% of the wall time")
    engine_rows = ([total("demo", [demo[0]])] if demo else []) + [total(r["task"], r["phases"]) for r in results]
    process_rows = ([total("demo", [demo[1]])] if demo else []) + [total(r["task"], [r["cli"]]) for r in results]
    for title, rows in (("the engine's phases (the demo's in its own process, first-use imports included; each task's "
                         "baseline + implement + run in a warm engine):", engine_rows),
                        ("whole processes (`mlr-copilot demo`; each task's `mlr-copilot run`):", process_rows)):
        print(title)
        for p in rows:
            print(f"  {p.name:<22} wall {p.wall:7.2f} s, experiment {p.experiment:7.2f} s, LLM {p.llm:6.3f} s, "
                  f"overhead {p.overhead * 1000:6.0f} ms = {p.share:5.1f}%  {verdict(p)}")
    floor = empty.overhead
    print(f"start-up floor: `python -c pass` {bare * 1000:.0f} ms; an empty `mlr-copilot run` {floor * 1000:.0f} ms beyond "
          f"its experiment (Python, pydantic and the package's imports, the engine, git, the record and note), so a "
          f"process meets {TARGET_PERCENT:g}% only with runs of {floor * 100 / TARGET_PERCENT:.1f} s or more")
    verdicts = [verdict(p) for p in engine_rows + process_rows]
    overall = "PASS" if verdicts and all(v == "PASS" for v in verdicts) and hypotheses == "PASS" else "FAIL"
    print(f"{overall}: {verdicts.count('PASS')} of {len(verdicts)} under {TARGET_PERCENT:g}%; hypotheses at once {hypotheses}")
    return 0 if overall == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
