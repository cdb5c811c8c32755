"""What a run's worktree costs: run by hand, prints figures.

    python bench/bench_worktree.py [--files 2000] [--repeat 15] [--run-s 1.0] [--processes 2] [--each 10]

Target: a run's worktree in < 100 ms on a 2,000-file workspace. Measured where the
workspace's disk is (a temporary folder) and, to tell git's own work from the disk's, on a
tmpfs (/dev/shm) too, beside the floor: the same files written by Python with no git at all.
A fresh worktree (`worktrees.create`, what every run paid before `run.reuseWorktrees`) writes
every file; a reused one (`worktree_pool.take`) is switched from the commit the previous run
left to the next run's: another commit (one file differs) or the same one again; its clean-up
when the run ends (`give_back`) is timed too. Between take and give-back the "run" lasts
`--run-s` seconds: git trusts a file's times only once they are older than its index (a file
written in the index's second is compared by content), which a real run's length ensures.
Then `--processes` processes each make and remove `--each` worktrees of one repository at once
(two `mlr-copilot run` in one workspace): every one must succeed, and the figure is the median
time of a create while the others are at it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_parallel import make_workspace

from mlr_copilot.workspace import worktree_pool, worktrees

TARGET_MS = 100.0

CONTENDER = """
import json, sys, time
from mlr_copilot.workspace import worktree_pool, worktrees
repo, name, each, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
time.sleep(max(0.0, start - time.time()))
times, failures = [], []
for i in range(each):
    began = time.perf_counter()
    try:
        tree = worktrees.create(repo, f"{name}-{i}", "HEAD")
    except Exception as exc:
        failures.append(str(exc))
        continue
    times.append((time.perf_counter() - began) * 1000)
    worktrees.remove(tree)
print(json.dumps({"times": times, "failures": failures}))
"""


def timed(action, repeat: int) -> list[float]:
    walls = []
    for i in range(repeat):
        start = time.perf_counter()
        action(i)
        walls.append((time.perf_counter() - start) * 1000)
    return walls


def line(name: str, walls: list[float]) -> str:
    return (f"  {name:<46} median {statistics.median(walls):7.1f} ms   min {min(walls):7.1f}   "
            f"max {max(walls):7.1f}")


def bench_place(root: Path, files: int, repeat: int) -> list[str]:
    repo, _ = make_workspace(root, files, 1)
    made: dict[int, worktrees.Worktree] = {}
    creates = timed(lambda i: made.__setitem__(i, worktrees.create(repo, f"bench-{i}", "HEAD")), repeat)
    removes = timed(lambda i: worktrees.remove(made[i]), repeat)
    sources = [path for path in repo.rglob("*") if path.is_file() and not {".git", ".mlr"} & set(path.parts)]
    contents = {path: path.read_bytes() for path in sources}
    scratch = root / "floor"

    def write_files(i: int) -> None:
        for source, data in contents.items():
            target = scratch / str(i) / source.relative_to(repo)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    floor = timed(write_files, repeat)
    shutil.rmtree(scratch)
    return [line("worktrees.create", creates), line("worktrees.remove", removes),
            line("floor: the same files written by Python", floor)]


def bench_reuse(root: Path, files: int, repeat: int, run_s: float) -> list[str]:
    import os

    repo, shas = make_workspace(root / "reuse", files, 2)
    takes: dict[str, list[float]] = {"another commit": [], "the same commit": []}
    gives: list[float] = []
    tree, lease = worktree_pool.take(repo, "warm", shas[0], 1)  # the pool's first tree is a fresh one
    for i in range(repeat):
        for name, sha in (("another commit", shas[(i + 1) % 2]), ("the same commit", shas[(i + 1) % 2])):
            time.sleep(run_s)
            start = time.perf_counter()
            worktree_pool.give_back(tree, 1)
            gives.append((time.perf_counter() - start) * 1000)
            os.close(lease or -1)
            start = time.perf_counter()
            tree, lease = worktree_pool.take(repo, f"run-{i}", sha, 1)
            takes[name].append((time.perf_counter() - start) * 1000)
            if lease is None or tree.path.name != "pool-0":
                raise SystemExit("the pooled worktree was not reused")
    worktree_pool.give_back(tree, 1)
    return [line(f"reused: take, {name}", walls) for name, walls in takes.items()] + [
        line("reused: give_back (clean to its commit)", gives)]


def bench_contention(root: Path, files: int, processes: int, each: int) -> list[str]:
    import json
    import os

    repo, _ = make_workspace(root, files, 1)
    start = time.time() + 2.0  # every process imported and waiting
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(repo), f"p{n}", str(each), str(start)],
                              stdout=subprocess.PIPE, text=True, env=env) for n in range(processes)]
    results = [json.loads(proc.communicate()[0]) for proc in procs]
    times = [t for result in results for t in result["times"]]
    failures = [f for result in results for f in result["failures"]]
    out = [line(f"create, {processes} processes at once", times) if times else "  no create succeeded",
           f"  failures: {len(failures)} of {processes * each}" + (f" (first: {failures[0]})" if failures else "")]
    listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    out.append(f"  worktrees left: {len(listed.splitlines()) - 1}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--run-s", type=float, default=1.0, help="how long each reused tree is held")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--each", type=int, default=10)
    args = parser.parse_args()
    places = [Path(tempfile.gettempdir())] + ([Path("/dev/shm")] if Path("/dev/shm").is_dir() else [])
    print(f"worktree of a {args.files}-file workspace (median of {args.repeat}; target < {TARGET_MS:.0f} ms):")
    for place in places:
        root = Path(tempfile.mkdtemp(prefix="bench-worktree-", dir=place))
        try:
            print(f" on {place}:")
            print("\n".join(bench_place(root, args.files, args.repeat)))
            print("\n".join(bench_reuse(root, args.files, args.repeat, args.run_s)))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    root = Path(tempfile.mkdtemp(prefix="bench-worktree-"))
    try:
        print(f" {args.processes} processes x {args.each} worktrees of one repository:")
        print("\n".join(bench_contention(root, args.files, args.processes, args.each)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
