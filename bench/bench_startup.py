"""Start-up of the commands that do no LLM or experiment work, as whole processes: the median
wall time of N runs of each (interleaved, as the machine's speed drifts), against the 120 ms
target, next to the interpreter's own floor (`python -c pass`). The CPU time (user + system)
of each process is printed too, and its ratio to the floor's: on a shared machine they drift
far less than the wall time.

Bytecode is compiled once, in a temporary cache, before timing: an installed package has its
`.pyc` files, and a `PYTHONDONTWRITEBYTECODE` environment would otherwise time the compiler.

Two workspaces: a bare one, a git repository with two runs recorded through the engine (`run
--runner local`), which the queue also keeps; and a lived-in one, as `mlr-copilot demo` leaves
it (built here in seconds, with no LLM): a task description (`task.toml`), a paper's
hypotheses in the engine's own store, one accepted, runs on its branch, which is checked out,
a setting given in the workspace's `.env` (the budget) and a search session's journal.

Timed: every command that does no LLM or experiment work (`mlr-copilot --help` lists them all),
each as it starts and answers: `--help`, `--version`, `history` (its `--csv` and `--md` take its
path), `compare`, `hypotheses`, `status`, `queue`, `queue cancel`, `accept` and `reject`,
`checkout-run` and `undo`, the last five on an id or a state that makes them refuse (what they
would change is the work they are for, and a second timing would find it done), and one
`COMMAND --help` (every command's help is built the same way: its own parser alone). Not timed:
`doctor` asks the Docker engine, the package metadata of every SDK and, online with a key, the
provider's models endpoint; `paper` parses a PDF; `serve` is the language server, a process that
lives as long as the editor; `ideas`, `refine`, `implement`, `run`, `debug`, `search` (its node
actions too), `auto`, `eval` and `demo` ask an LLM or run experiments. Their time is the work
they are for, not start-up.

    python bench/bench_startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 120.0


def environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("MLR_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def workspace(root: Path, env: dict[str, str]) -> list[str]:
    """A git repository with two finished local runs; their ids."""
    (root / "train.py").write_text("print('METRIC accuracy=0.9')\n", encoding="utf-8")
    for args in (["init", "-q"], ["add", "train.py"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-m", "mlr_copilot.cli", "run", "--runner", "local", "--json", "-w", str(root)],
                             capture_output=True, text=True, env=env, check=True)
        runs.append(json.loads(out.stdout)["id"])
    return runs


TASK_TOML = """name = "bench-task"
title = "A task for the start-up bench"
kind = "offline"
description = "Raise the accuracy."
command = "python train.py"

[metric]
name = "accuracy"
direction = "maximize"
"""


def lived_in(root: Path, env: dict[str, str]) -> list[str]:
    """`workspace`, then what the demo would leave: its run ids."""
    from mlr_copilot.ideas.model import ExperimentPlan, Hypothesis, IdeasRun
    from mlr_copilot.ideas.store import IdeaStore
    from mlr_copilot.search.model import Journal, Node
    from mlr_copilot.search.store import save
    from mlr_copilot.state import StateDir

    (root / "task.toml").write_text(TASK_TOML, encoding="utf-8")
    base = workspace(root, env)
    plan = ExperimentPlan(dataset="d", model="m", baseline="b", metric="accuracy", direction="maximize",
                          steps=["change it"], expected_improvement="+1")
    hypotheses = [Hypothesis(id=f"h{n}", paper="bench-paper", rank=n, title=f"Idea number {n}", problem="p",
                             method="m", rationale="r", plan=plan, scores={"novelty": 5.0, "feasibility": 6.0})
                  for n in (1, 2, 3)]
    IdeaStore(StateDir(root)).save(IdeasRun(paper_path="paper.pdf", paper_slug="bench-paper", paper_title="A paper",
                                            hypotheses=hypotheses))
    cli = [sys.executable, "-m", "mlr_copilot.cli"]
    subprocess.run([*cli, "accept", "h1", "-w", str(root)], check=True, capture_output=True, env=env)
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "checkout", "-qb", hypotheses[0].branch], check=True, capture_output=True)
    runs = [json.loads(subprocess.run([*cli, "run", "--runner", "local", "--json", "-w", str(root)], capture_output=True,
                                      text=True, env=env, check=True).stdout)["id"] for _ in range(2)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    save(root, Journal(session="20260101-120000", metric="accuracy", direction="maximize", base_branch="master",
                       base_commit=head, branch="mlr/search-20260101-120000", baseline_run=base[0], baseline_value=0.9,
                       status="done", nodes=[Node(id="n001", operator="draft", hypothesis="h1", commit=head,
                                                  status="passed", runs=[runs[0]], value=0.9)]))
    (root / ".env").write_text("MLR_BUDGET_USD=5\n", encoding="utf-8")
    return runs


def commands(root: Path, runs: list[str]) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "mlr_copilot.cli"]
    w = ["-w", str(root)]
    return {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "--help": [*cli, "--help"],
        "--version": [*cli, "--version"],
        "history": [*cli, "history", *w],
        "history --json": [*cli, "history", "--json", *w],
        "compare A B": [*cli, "compare", *runs, *w],
        "compare --help": [*cli, "compare", "--help"],
        "hypotheses": [*cli, "hypotheses", *w],
        "hypotheses --json": [*cli, "hypotheses", "--json", *w],
        "status": [*cli, "status", *w],
        "queue": [*cli, "queue", *w],
        "queue --json": [*cli, "queue", "--json", *w],
        "queue cancel (unknown run)": [*cli, "queue", "cancel", "nosuch", *w],
        "accept (unknown id)": [*cli, "accept", "h9", *w],
        "reject (unknown id)": [*cli, "reject", "h9", *w],
        "checkout-run (unknown run)": [*cli, "checkout-run", "nosuch", *w],
        "undo (nothing to undo)": [*cli, "undo", *w],
    }


def timed_ms(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument("--only", choices=["bare", "lived-in"], help="time one of the two workspaces")
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="mlr-bench-startup-"))
    env = environment(temp / "pycache")
    failed = 0
    for name, build in (("bare", workspace), ("lived-in", lived_in)):
        if args.only in (None, name):
            (temp / name).mkdir()
            runs = build(temp / name, env)
            print(f"\n{name} workspace: {temp / name}")
            failed += bench(commands(temp / name, runs), env, args.repeat)
    return 1 if failed else 0


def bench(timed: dict[str, list[str]], env: dict[str, str], repeat: int) -> int:
    """Times each command `repeat` times and prints the table; how many failed the target."""
    for argv in timed.values():  # compiles the bytecode, warms the file cache
        timed_ms(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in timed}
    cpu: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(repeat):
        for name, argv in timed.items():
            wall, used = timed_ms(argv, env)
            samples[name].append(wall)
            cpu[name].append(used)
    floor = statistics.median(samples["python -c pass (floor)"])
    print(f"{repeat} runs each, median wall time of the whole process")
    cpu_floor = statistics.median(cpu["python -c pass (floor)"])
    print(f"{'command':<26} {'median':>9} {'min':>9} {'over floor':>11} {'CPU':>9} {'CPU/floor':>9}  "
          f"target {TARGET_MS:.0f} ms")
    failed = 0
    for name, values in samples.items():
        median = statistics.median(values)
        verdict = "" if name.startswith("python") else ("PASS" if median <= TARGET_MS else "FAIL")
        failed += verdict == "FAIL"
        used = statistics.median(cpu[name])
        print(f"{name:<26} {median:7.1f}ms {min(values):7.1f}ms {median - floor:9.1f}ms "
              f"{used:7.1f}ms {used / cpu_floor:8.1f}x  {verdict}")
    if floor > TARGET_MS / 2:
        print(f"note: the interpreter alone takes {floor:.0f} ms here (a loaded or slow machine); "
              "'over floor' is what mlr-copilot itself adds")
    return failed


if __name__ == "__main__":
    sys.exit(main())
