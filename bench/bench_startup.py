"""Start-up of the commands that do no LLM or experiment work, as whole processes: the median
wall time of N runs of each (interleaved, as the machine's speed drifts), against the 120 ms
target, next to the interpreter's own floor (`python -c pass`). The CPU time (user + system)
of each process is printed too, and its ratio to the floor's: on a shared machine they drift
far less than the wall time.

Bytecode is compiled once, in a temporary cache, before timing: an installed package has its
`.pyc` files, and a `PYTHONDONTWRITEBYTECODE` environment would otherwise time the compiler.

The workspace is a git repository with two runs recorded through the engine (`run --runner
local`), which the queue also keeps. `doctor` is not timed: it asks the Docker engine, the
package metadata of every SDK and, online with a key, the provider's models endpoint, which is
the work it is for, not start-up.

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


def commands(root: Path, runs: list[str]) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "mlr_copilot.cli"]
    w = ["-w", str(root)]
    return {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "--help": [*cli, "--help"],
        "history": [*cli, "history", *w],
        "history --json": [*cli, "history", "--json", *w],
        "compare A B": [*cli, "compare", *runs, *w],
        "compare --help": [*cli, "compare", "--help"],
        "hypotheses": [*cli, "hypotheses", *w],
        "status": [*cli, "status", *w],
        "queue": [*cli, "queue", *w],
        "queue --json": [*cli, "queue", "--json", *w],
        "accept (unknown id)": [*cli, "accept", "h9", *w],
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
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="mlr-bench-startup-"))
    env = environment(temp / "pycache")
    (temp / "ws").mkdir()
    runs = workspace(temp / "ws", env)
    timed = commands(temp / "ws", runs)
    for argv in timed.values():  # compiles the bytecode, warms the file cache
        timed_ms(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in timed}
    cpu: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(args.repeat):
        for name, argv in timed.items():
            wall, used = timed_ms(argv, env)
            samples[name].append(wall)
            cpu[name].append(used)
    floor = statistics.median(samples["python -c pass (floor)"])
    print(f"work folder: {temp}; {args.repeat} runs each, median wall time of the whole process")
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
