"""What the Ray runner costs, on a real two-node Ray cluster on this machine (1 CPU per node,
the test suite's loopback cluster). Run by hand, prints figures.

    python bench/bench_ray.py [--repeat 7] [--runs 8] [--seconds 5]

1. Per-run overhead: the wall time of one short command (`python -c pass`) run through
   `run_on_ray` (an actor that unpacks the commit's tree, starts the command in its own
   session, streams its output back and reads its results file) against a bare
   `ray.get(task.remote())` of a task running the same command with `subprocess.run`; warm
   (one unmeasured run of each first), medians of `--repeat`.
2. Throughput: `--runs` experiments of `--seconds` s each (a sleep: the machine's CPUs are
   shared, a busy loop would measure the neighbours), run serially here with `subprocess.run`,
   serially through `run_on_ray`, and all at once through `run_on_ray` from as many threads
   (the cluster runs two at a time: one CPU per node, one CPU per run).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "server"), str(ROOT)]

from mlr_copilot.runners.ray_connect import RayResources, connect, disconnect  # noqa: E402
from mlr_copilot.runners.ray_remote import RayJob, RayRunResult, run_on_ray, tree_tarball  # noqa: E402
from tests.runners.helpers import make_repo  # noqa: E402
from tests.runners.ray_cluster import start_cluster  # noqa: E402

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def one_job(tree: bytes, argv: list[str], index: int) -> RayJob:
    return RayJob(f"bench-{index}", argv, ENV, 600, RayResources(num_cpus=1), tree=tree)


def overhead(ray, tree: bytes, repeat: int) -> None:
    argv = [sys.executable, "-c", "pass"]

    @ray.remote(num_cpus=1)
    def bare(command: list[str]) -> int:
        return subprocess.run(command, check=False).returncode

    def through_runner() -> None:
        assert run_on_ray(ray, one_job(tree, argv, 0)).status == "passed"

    def through_task() -> None:
        assert ray.get(bare.remote(argv)) == 0

    through_runner(), through_task()
    runner = [timed(through_runner) for _ in range(repeat)]
    task = [timed(through_task) for _ in range(repeat)]
    local = [timed(lambda: subprocess.run(argv, check=True)) for _ in range(repeat)]
    print(f"one `python -c pass`, median of {repeat} (warm):")
    print(f"  subprocess.run here         {statistics.median(local) * 1000:8.0f} ms")
    print(f"  bare ray.get(task.remote()) {statistics.median(task) * 1000:8.0f} ms")
    print(f"  run_on_ray                  {statistics.median(runner) * 1000:8.0f} ms")
    print(f"  runner overhead over bare   {(statistics.median(runner) - statistics.median(task)) * 1000:8.0f} ms per run")


def throughput(ray, tree: bytes, runs: int, seconds: float) -> None:
    argv = [sys.executable, "-c", f"import time; time.sleep({seconds})"]
    serial_here = timed(lambda: [subprocess.run(argv, check=True) for _ in range(runs)])
    serial_ray = timed(lambda: [run_on_ray(ray, one_job(tree, argv, i)) for i in range(runs)])
    results: list[RayRunResult] = []

    def launch(index: int) -> None:
        results.append(run_on_ray(ray, one_job(tree, argv, index)))

    def all_at_once() -> None:
        threads = [threading.Thread(target=launch, args=(i,)) for i in range(runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    parallel = timed(all_at_once)
    nodes = {result.node_id for result in results}
    assert all(result.status == "passed" for result in results), [r.message for r in results]
    print(f"{runs} runs of {seconds:g} s:")
    print(f"  serial, subprocess.run here {serial_here:8.1f} s")
    print(f"  serial, run_on_ray          {serial_ray:8.1f} s")
    print(f"  concurrent, run_on_ray      {parallel:8.1f} s  on {len(nodes)} nodes "
          f"({serial_here / parallel:.2f}x faster than serial here; ideal {min(runs, 2)}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tree = tree_tarball(make_repo(Path(folder) / "repo", {"train.py": "print('hi')\n"}), "HEAD")
    began = time.perf_counter()
    cluster = start_cluster()
    try:
        ray = connect(cluster.address)
        cluster.wait_for_nodes(ray, 2)
        print(f"two-node cluster up and connected in {time.perf_counter() - began:.1f} s")
        overhead(ray, tree, args.repeat)
        throughput(ray, tree, args.runs, args.seconds)
    finally:
        disconnect()
        cluster.stop()


if __name__ == "__main__":
    main()
