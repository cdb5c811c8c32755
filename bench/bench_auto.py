"""What the autonomous loop costs beyond the experiment itself. Run by hand, prints figures.

    python bench/bench_auto.py [--runner auto|local|docker] [--tasks a,b] [--skip-demo]

1. The demo (`mlr-copilot demo` as a process, scripted LLM replies): wall time of each phase
   from `.mlr/auto/state.json`, the tokens of each LLM task from its ledger snapshot, the
   experiment's own time (the runs' `duration_s`), and the overhead: wall time - LLM time -
   experiment time. The scripted provider answers at once, so LLM time is ~0 and overhead is
   wall - experiment time.
2. Every offline bundled task, in a fresh git copy: the baseline as a bare `python train.py`,
   as `mlr-copilot run --json` (the runner's duration and the whole command's wall time), and
   one implement step driven by a scripted reply that changes a constant in train.py, accepted
   (tokens estimated from the real prompt, since the reply records none).

Target: overhead < 5% of the experiment's run time.
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
from pathlib import Path

from mlr_copilot.autonomous.pipeline import accept_all
from mlr_copilot.autonomous.tasks import copy_task
from mlr_copilot.ideas.model import ExperimentPlan, Hypothesis, IdeasRun
from mlr_copilot.ideas.store import IdeaStore
from mlr_copilot.state import StateDir, read_json
from mlr_copilot.tasks import bundled_tasks_root, list_tasks
from mlr_copilot.work import Work

TARGET_PERCENT = 5.0
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
CLI = [sys.executable, "-m", "mlr_copilot.cli"]
BARE_REPEAT = 3
# The implement step's edit for tasks whose train.py has no integer constant to bump.
EDITS = {"review-sentiment": ("    model = MultinomialNB()\n", "    model = MultinomialNB(alpha=0.5)\n")}
CONSTANT = re.compile(r"^([A-Z][A-Z0-9_]*) = (\d+)\n", re.MULTILINE)


def sample_run(root: Path, count: int = 1, *, metric: str = "accuracy", direction: str = "maximize",
               status: str = "proposed") -> IdeasRun:
    """A proposal of `count` hypotheses as the ideas phase would save it."""
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


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:7.1f}%" if whole > 0 else "    n/a"


def bench_demo(root: Path, runner: str) -> tuple[float, float]:
    target = root / "demo"
    wall, done = timed_process([*CLI, "demo", "--workspace", str(target), "--runner", runner], root)
    if done.returncode != 0:
        print(f"demo: exited {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    state = read_json(target / ".mlr" / "auto" / "state.json") or {}
    phases: dict[str, float] = state.get("phase_seconds", {})
    records = run_records(target)
    baseline_s = sum(r["duration_s"] or 0 for r in records if r.get("baseline"))
    experiment_s = sum(r["duration_s"] or 0 for r in records)
    run_s = {"baseline": baseline_s, "run+debug": experiment_s - baseline_s}
    tasks = state.get("usage", {}).get("tasks", {})
    llm_of = {"ideas": ["ideas"], "implement": [t for t in tasks if t.startswith("implement:")],
              "run+debug": [t for t in tasks if t.startswith("debug:")]}

    print(f"== demo (review-sentiment, runner {runner}, {len(records)} runs on "
          f"{', '.join(sorted({r['runner'] for r in records})) or '-'}): status {state.get('status')}")
    print(f"{'phase':<12} {'wall s':>8} {'runs s':>8} {'overhead s':>11} {'of runs':>8} {'in tok':>8} {'out tok':>8}")
    for phase, seconds in phases.items():
        names = llm_of.get(phase, [])
        tokens_in = sum(tasks[n]["input_tokens"] for n in names if n in tasks)
        tokens_out = sum(tasks[n]["output_tokens"] for n in names if n in tasks)
        runs = run_s.get(phase, 0.0)
        over = seconds - runs
        print(f"{phase:<12} {seconds:8.2f} {runs:8.2f} {over:11.2f} {percent(over, runs) if runs else '       -':>8} "
              f"{tokens_in:8d} {tokens_out:8d}")
    in_phases = sum(phases.values())
    usage = state.get("usage", {})
    print(f"{'phases':<12} {in_phases:8.2f} {experiment_s:8.2f} {in_phases - experiment_s:11.2f} "
          f"{percent(in_phases - experiment_s, experiment_s):>8} {usage.get('input_tokens', 0):8d} {usage.get('output_tokens', 0):8d}")
    print(f"{'process':<12} {wall:8.2f} {experiment_s:8.2f} {wall - experiment_s:11.2f} {percent(wall - experiment_s, experiment_s):>8}"
          "   (the whole `mlr-copilot demo`: start-up, repository set-up, report)")
    print("LLM time: ~0 s (scripted replies); overhead = wall - experiment time\n")
    return wall - experiment_s, experiment_s


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


async def implement_once(workspace: Path, settings: dict) -> tuple[float, dict, object]:
    from mlr_copilot.engine import Engine

    async def confirm(_problem: str) -> bool:
        return True

    started = time.perf_counter()
    engine = Engine.load(workspace, settings)
    state = await engine.implement("h1", accept_all, Work(), confirm)
    return time.perf_counter() - started, engine.usage(), state


def bench_task(task, root: Path, runner: str) -> dict:
    workspace = fresh_copy(task, root)
    bare_times = []
    for _ in range(BARE_REPEAT):
        seconds, bare = timed_process([sys.executable, "train.py"], workspace)
        if bare.returncode != 0:
            raise SystemExit(f"{task.name}: python train.py failed:\n{bare.stderr[-2000:]}")
        bare_times.append(seconds)
    bare_s = statistics.median(bare_times)
    (workspace / "results.json").unlink(missing_ok=True)
    cli_s, done = timed_process([*CLI, "run", "--json", "--baseline", "--runner", runner, "--workspace", str(workspace)], workspace)
    if done.returncode != 0:
        raise SystemExit(f"{task.name}: mlr-copilot run failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    record = json.loads(done.stdout)

    IdeaStore(StateDir(workspace)).save(sample_run(workspace, metric=task.metric.name, direction=task.metric.direction,
                                                   status="accepted"))
    train = (workspace / "train.py").read_text(encoding="utf-8")
    search, replace, what = script_for(train, task.name)
    script = StateDir(workspace).folder("bench") / "script.jsonl"
    write_script(script, search, replace, what)
    settings = {"llm": {"provider": "scripted", "script": str(script)}, "ideas": {"online": False}, "run": {"runner": runner}}
    implement_s, usage, state = asyncio.run(implement_once(workspace, settings))
    if not state.commits:
        raise SystemExit(f"{task.name}: the implement step committed nothing ({state.status}: {state.message})")
    tokens = usage["tasks"].get("implement:h1", {})
    steps = [json.loads(line) for line in (workspace / ".mlr" / "implement" / "h1" / "log.jsonl").read_text().splitlines()]
    step = next(s for s in steps if s["event"] == "step")
    return {"task": task.name, "runner": record["runner"], "bare_s": bare_s, "duration_s": record["duration_s"],
            "cli_s": cli_s, "implement_s": implement_s, "in": tokens.get("input_tokens", 0), "out": tokens.get("output_tokens", 0),
            "step": {k: v for k, v in step.items() if k.endswith("_s")}, "edit": what}


def print_tasks(rows: list[dict]) -> None:
    print("== offline tasks: baseline run and one scripted implement step")
    print(f"{'task':<22} {'runner':<7} {'bare s':>7} {'run s':>7} {'cli s':>7} {'cli over':>9} {'impl s':>7} "
          f"{'in tok':>7} {'out tok':>7} {'overhead':>9}")
    for r in rows:
        over = r["cli_s"] - r["duration_s"] + r["implement_s"]
        print(f"{r['task']:<22} {r['runner']:<7} {r['bare_s']:7.2f} {r['duration_s']:7.2f} {r['cli_s']:7.2f} "
              f"{r['cli_s'] - r['duration_s']:9.2f} {r['implement_s']:7.2f} {r['in']:7d} {r['out']:7d} "
              f"{percent(over, r['duration_s']):>9}")
    print(f"bare: `python train.py` on this machine (median of {BARE_REPEAT}); run: the record's duration_s (in the sandbox);")
    print("cli: `mlr-copilot run --json` wall time; impl: one implement step in a warm process, as in the server")
    print("(Engine.load + implement with a scripted reply, accepted and committed; tokens estimated from the prompt);")
    print("overhead: (cli - run + impl) as a share of the run's duration")
    for r in rows:
        print(f"  {r['task']}: edit `{r['edit']}`; step phases " + ", ".join(f"{k[:-2]} {v * 1000:.0f} ms" for k, v in r["step"].items()))
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner", choices=["auto", "local", "docker"], default="auto")
    parser.add_argument("--tasks", help="comma-separated offline task names (default: all)")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()

    # the server's engine is warm; the CLI's start-up is counted in `cli` instead
    for module in ("mlr_copilot.engine", "mlr_copilot.experiment.agent", "mlr_copilot.retrieval.code", "mlr_copilot.retrieval.hub"):
        importlib.import_module(module)

    root = Path(tempfile.mkdtemp(prefix="mlr-bench-auto-"))
    print(f"work folder {root}\n")
    demo = None if args.skip_demo else bench_demo(root, args.runner)
    wanted = set(args.tasks.split(",")) if args.tasks else None
    tasks = [t for t in list_tasks(bundled_tasks_root()) if t.kind == "offline" and (wanted is None or t.name in wanted)]
    rows = [bench_task(task, root, args.runner) for task in tasks]
    print_tasks(rows)

    print("== overall")
    verdicts = []
    if demo is not None:
        over, runs = demo
        share = 100 * over / runs if runs else float("inf")
        verdicts.append(share < TARGET_PERCENT)
        print(f"demo: overhead {over:.2f} s on {runs:.2f} s of runs = {share:.1f}% (target < {TARGET_PERCENT:g}%); "
              f"met by runs of {over / TARGET_PERCENT * 100:.0f} s or more in all")
    if rows:
        over = sum(r["cli_s"] - r["duration_s"] + r["implement_s"] for r in rows)
        runs = sum(r["duration_s"] for r in rows)
        share = 100 * over / runs if runs else float("inf")
        verdicts.append(share < TARGET_PERCENT)
        print(f"offline tasks: overhead {over:.2f} s on {runs:.2f} s of runs = {share:.1f}% (target < {TARGET_PERCENT:g}%); "
              f"per task {over / len(rows):.2f} s, met by runs of {over / len(rows) / TARGET_PERCENT * 100:.0f} s or more")
    verdict = "PASS" if verdicts and all(verdicts) else "FAIL"
    print(f"{verdict}: agent overhead against the {TARGET_PERCENT:g}% target")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
