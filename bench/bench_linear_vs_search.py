"""The linear autonomous mode against the search, on the bundled offline tasks with the same
scripted model: `eval --compare` in one process, local runner. Run by hand, prints the table.

    python bench/bench_linear_vs_search.py [--tasks a,b] [--runs K] [--nodes N] [--seeds S]

Each task replays its recorded replies (workspaces/demo/compare/<task>.jsonl) in both modes:
the same ideas and the same first implementation; the search then spends its extra nodes on the
improvements the script holds, which the linear mode never asks for. So the success and gain
columns show what the structure of each mode can reach with identical replies (a real model's
figures need `mlr-copilot eval --compare` with a provider); the cost columns are measured:
LLM tokens, experiment compute (the runs' own duration), nodes and runs, wall time per attempt.
Both modes are judged on seeded means: the search's winner and the linear mode's best run are
re-run with `--seeds` seeds, as is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from mlr_copilot.autonomous.evaluation import MODES, Evaluation, evaluate, pick_tasks, render  # noqa: E402
from mlr_copilot.taskfile import bundled_tasks_root  # noqa: E402
from mlr_copilot.work import Work  # noqa: E402

SCRIPTS = bundled_tasks_root() / "demo" / "compare"


def compare(task: str, runs: int, nodes: int, seeds: int, workdir: Path) -> Evaluation:
    layer = {"llm": {"provider": "scripted", "script": str(SCRIPTS / f"{task}.jsonl")}, "ideas": {"online": False},
             # one run at a time: the wall times of the two modes are comparable on a shared machine
             "run": {"runner": "local", "parallel": 1},
             "search": {"max_nodes": nodes, "seeds": seeds, "reflect_every": 0}}
    return asyncio.run(evaluate(pick_tasks([task]), runs, workdir, layer, Work(), modes=MODES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", help="comma-separated task names (default: every task with recorded replies)")
    parser.add_argument("--runs", type=int, default=2, help="attempts per task and mode (default 2)")
    parser.add_argument("--nodes", type=int, default=3, help="the search's node budget (default 3)")
    parser.add_argument("--seeds", type=int, default=3, help="seeded re-runs of each mode's best and the baseline")
    args = parser.parse_args()
    tasks = [t for t in (args.tasks or "").split(",") if t] or sorted(p.stem for p in SCRIPTS.glob("*.jsonl"))
    total = Evaluation()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlr-bench-compare-") as tmp:
        for task in tasks:
            done = compare(task, args.runs, args.nodes, args.seeds, Path(tmp))
            total.tasks += done.tasks
            total.attempts += done.attempts
    print(render(total))
    print(f"\n{len(tasks)} task(s), {args.runs} attempt(s) per mode, search: {args.nodes} nodes; "
          f"both modes judged on {args.seeds} seed(s); "
          f"{time.perf_counter() - started:.0f}s in all")


if __name__ == "__main__":
    main()
