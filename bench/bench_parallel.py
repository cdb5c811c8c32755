"""Many experiments at once: run by hand, prints figures.

    python bench/bench_parallel.py [--runs 8] [--seconds 5] [--slots 2] [--files 2000] [--repeat 7] [--no-ray]
                                   [--fresh-worktrees]

Targets: a run's worktree made in < 100 ms on a 2,000-file workspace (a detached
`git worktree add`, beside the two other ways to lay out a commit's tree: `git archive | tar -x`
and a temporary index with `git checkout-index --prefix`); 8 experiments of ~5 s each through
the slot queue with 2 slots >= 1.8x faster than serially. Each experiment is a real process
(`time.sleep`, so the figure measures the scheduler and not the share of a busy 2-core machine
the benchmark gets) run in a worktree of its own commit, placed as the engine places it by
default (`run.reuseWorktrees` on): a pooled worktree (`workspace/worktree_pool.py`, one per
slot) switched to the run's commit once the run holds its slot, and cleaned when it ends; a run
finding every pooled one taken gets a fresh one. `--fresh-worktrees` measures the setting off (a
worktree made and removed per run). One function per configuration (`serial`, `slot_queue`,
`ray_runner`).

Ray: the test suite's real two-node cluster on 127.0.0.1 (1 CPU per node, so two runs at once,
as with 2 slots). Each run takes its driver-side worktree from the same pool (all are submitted
at once, so most get a fresh one) and goes through the whole `ray` runner (`RayRunner.run`: the
commit's tree as a tarball, fetched to the nodes by zero-CPU tasks while the run waits for a
CPU and synced into a reused run folder of the node, `ray_rundirs`, which outlive the bench as
they outlive a session on a real node: only a folder's first run writes the whole tree; the
supervision loop, the log, the results file back), as a plain process
like the slot queue's (`run.raySandbox: none`), from one thread per run; Ray queues what the
cluster cannot hold yet. Target: within 15% of
the slot queue's wall time (and the same on a 20-file workspace, where the tree costs little to
unpack on the node). The per-run overhead of the runner is measured on `python -c pass`
against a bare `ray.get(task.remote())` of a task running the same command with
`subprocess.run`, both warm, medians of `--repeat`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from mlr_copilot.runners.model import RayTarget, RunRequest
from mlr_copilot.runners.queue import SlotQueue
from mlr_copilot.runners.slots import plan_slots
from mlr_copilot.workspace import worktree_pool, worktrees

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
WORKTREE_TARGET_MS = 100.0
SPEEDUP_TARGET = 1.8
RAY_TARGET = 1.15  # Ray's wall time over the slot queue's
SMALL_FILES = 20  # a typical experiment repository, beside the 2,000-file one
ROOT = Path(__file__).resolve().parents[1]
# concurrent `git worktree add`s of one repository can read each other's half-made admin folders
# ("failed to read .git/worktrees/<id>/commondir"; `worktrees.create` has no lock yet): one at a time
GIT_LOCK = threading.Lock()


def take_tree(repo: Path, run_id: str, commit: str, pool: int, prefer: int = 0) -> tuple[worktrees.Worktree, int | None]:
    """The run's worktree as the engine places it: from a pool of `pool` (0: a fresh one)."""
    with GIT_LOCK:
        return worktree_pool.take(repo, run_id, commit, pool, prefer)


def give_tree(tree: worktrees.Worktree, lease: int | None, pool: int) -> None:
    with GIT_LOCK:
        if lease is None:
            worktrees.remove(tree)
            return
        try:
            worktree_pool.give_back(tree, pool)
        finally:
            os.close(lease)


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=env or GIT_ENV, check=True, capture_output=True,
                          text=True).stdout


def make_workspace(root: Path, files: int, commits: int) -> tuple[Path, list[str]]:
    """A repository of `files` small Python files in 40 folders, with `commits` commits that
    each change one file (the runs' commits)."""
    repo = root / "ws"
    for i in range(files):
        path = repo / f"pkg{i % 40}" / f"module{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {i}\n" * 20)
    git(repo.parent, "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "starter")
    shas = []
    for n in range(commits):
        (repo / "train.py").write_text(f"VARIANT = {n}\n")
        git(repo, "add", "train.py")
        git(repo, "commit", "-q", "-m", f"variant {n}")
        shas.append(git(repo, "rev-parse", "HEAD").strip())
    return repo, shas


def _cpu_s() -> float:
    """CPU time of this process and of the processes it waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + time.process_time()


def median_ms(action: Callable[[int], None], undo: Callable[[int], None], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time of `action` and the processes it ran (steadier than
    the wall time on a shared machine), in ms."""
    walls, cpus = [], []
    for i in range(repeat):
        cpu, start = _cpu_s(), time.perf_counter()
        action(i)
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((_cpu_s() - cpu) * 1000)
        undo(i)
    return statistics.median(walls), statistics.median(cpus)


def bench_worktree_methods(repo: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU ms to lay out HEAD's tree, three ways."""
    scratch = Path(tempfile.mkdtemp(prefix="layout-", dir=repo.parent))
    made: dict[int, worktrees.Worktree] = {}

    def add(i: int) -> None:
        made[i] = worktrees.create(repo, f"bench-{i}", "HEAD")

    def archive(i: int) -> None:
        (scratch / f"a{i}").mkdir()
        subprocess.run(f"git archive HEAD | tar -x -C {scratch / f'a{i}'}", shell=True, cwd=repo, check=True)

    def checkout_index(i: int) -> None:
        env = {**GIT_ENV, "GIT_INDEX_FILE": str(scratch / f"index{i}")}
        git(repo, "read-tree", "HEAD", env=env)
        git(repo, "checkout-index", "-a", f"--prefix={scratch / f'c{i}'}/", env=env)

    def write_files(i: int) -> None:
        # the floor: the same files written by one process, with no git at all
        for source in sources:
            target = scratch / f"w{i}" / source.relative_to(repo)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(contents[source])

    sources = [path for path in repo.rglob("*.py") if ".mlr" not in path.parts]
    contents = {path: path.read_bytes() for path in sources}
    figures = {
        "git worktree add --detach (worktrees.create)": median_ms(add, lambda i: worktrees.remove(made[i]), repeat),
        "git archive | tar -x": median_ms(archive, lambda i: shutil.rmtree(scratch / f"a{i}"), repeat),
        "temporary index + git checkout-index --prefix": median_ms(
            checkout_index, lambda i: shutil.rmtree(scratch / f"c{i}"), repeat),
    }
    figures["floor: the same files written by Python, no git"] = median_ms(
        write_files, lambda i: shutil.rmtree(scratch / f"w{i}"), repeat)
    shutil.rmtree(scratch)
    return figures


def experiment_argv(seconds: float) -> list[str]:
    return [sys.executable, "-c", f"import time; time.sleep({seconds})"]


def serial(repo: Path, commits: list[str], seconds: float, pool: int) -> float:
    """Wall time of the runs one after the other, each in its worktree (a pool of `pool`, as
    the engine's with one slot)."""
    start = time.perf_counter()
    for n, commit in enumerate(commits):
        tree, lease = take_tree(repo, f"serial-{n}", commit, pool)
        try:
            subprocess.run(experiment_argv(seconds), cwd=tree.path, env=worktrees.run_env(tree, os.environ), check=True)
        finally:
            give_tree(tree, lease, pool)
    return time.perf_counter() - start


def slot_queue(repo: Path, commits: list[str], seconds: float, slots: int, pool: int) -> tuple[float, int]:
    """Wall time of the runs through the slot queue, and the most that ran at once: each
    placed once it holds its slot (the slot's pooled worktree first), as `Engine.run` does."""
    queue = SlotQueue(repo, plan_slots(parallel=slots, gpus_per_run=0, gpu_ids=[]))
    most = 0

    async def one(n: int, commit: str) -> None:
        nonlocal most
        run_id = f"queued-{n}"
        async with queue.lease(run_id, node=commit[:8]) as lease:
            most = max(most, queue.running)
            tree, held = await asyncio.to_thread(take_tree, repo, run_id, commit, pool, lease.slot.index)
            try:
                process = await asyncio.create_subprocess_exec(
                    *experiment_argv(seconds), cwd=tree.path, env=worktrees.run_env(tree, os.environ))
                assert await process.wait() == 0
            finally:
                await asyncio.to_thread(give_tree, tree, held, pool)

    async def all_runs() -> None:
        await asyncio.gather(*(one(n, commit) for n, commit in enumerate(commits)))

    start = time.perf_counter()
    asyncio.run(all_runs())
    return time.perf_counter() - start, most


def ray_request(tree: Path, address: str, argv: list[str]) -> RunRequest:
    return RunRequest(workspace=str(tree), command=argv, memory_mb=256, timeout=600, env={"PATH": os.environ["PATH"]},
                      ray=RayTarget(address=address, num_cpus=1, sandbox="none"))


def ray_runner(repo: Path, commits: list[str], seconds: float, address: str, pool: int) -> tuple[float, int]:
    """Wall time of the runs through the `ray` runner, all submitted at once, and the number
    of nodes they ran on."""
    from mlr_copilot.runners.ray_runner import RayRunner

    runner, nodes = RayRunner(), set()

    def one(n: int, commit: str) -> None:
        tree, lease = take_tree(repo, f"ray-{n}", commit, pool, n % max(pool, 1))
        try:
            outcome = runner.run(ray_request(tree.path, address, experiment_argv(seconds)), run_id=f"ray-{n}",
                                 on_start=lambda sandbox: nodes.add(sandbox.node_id))
        finally:
            give_tree(tree, lease, pool)
        assert outcome.status == "passed", outcome.message

    threads = [threading.Thread(target=one, args=(n, commit)) for n, commit in enumerate(commits)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, len(nodes - {None})


def ray_overhead(ray: ModuleType, repo: Path, address: str, repeat: int) -> tuple[float, float]:
    """Median wall ms of one `python -c pass`: through the `ray` runner, and as a bare task."""
    from mlr_copilot.runners.ray_runner import RayRunner

    argv = [sys.executable, "-c", "pass"]
    bare = ray.remote(num_cpus=1)(lambda command: subprocess.run(command, check=False).returncode)
    runner = RayRunner()
    with worktrees.checked_out(repo, "ray-overhead", "HEAD") as tree:
        request = ray_request(tree.path, address, argv)

        def through_runner(i: int) -> None:
            assert runner.run(request, run_id=f"ray-overhead-{i}").status == "passed"

        def through_task(i: int) -> None:
            assert ray.get(bare.remote(argv)) == 0

        through_runner(-1), through_task(-1)
        return median_ms(through_runner, lambda i: None, repeat)[0], median_ms(through_task, lambda i: None, repeat)[0]


def bench_ray(repo: Path, commits: list[str], seconds: float, repeat: int, queued: float, pool: int) -> None:
    sys.path.insert(0, str(ROOT))  # the test suite's cluster
    from mlr_copilot.runners.ray_connect import connect, disconnect
    from tests.runners.ray_cluster import start_cluster

    began = time.perf_counter()
    cluster = start_cluster()
    try:
        ray = connect(cluster.address)
        cluster.wait_for_nodes(ray, 2)
        print(f"  (two-node Ray cluster up and connected in {time.perf_counter() - began:.1f} s)")
        wall, nodes = ray_runner(repo, commits, seconds, cluster.address, pool)
        verdict = "PASS" if wall <= queued * RAY_TARGET else "FAIL"
        print(f"  ray runner, 2 nodes    {wall:6.2f} s  (on {nodes} nodes)  {wall / queued:.2f}x the slot queue's time  "
              f"target <= {RAY_TARGET}x  {verdict}")
        small, small_commits = make_workspace(repo.parent / "small", SMALL_FILES, len(commits))
        small_queued, _ = slot_queue(small, small_commits, seconds, 2, pool)
        wall, nodes = ray_runner(small, small_commits, seconds, cluster.address, pool)
        print(f"  {SMALL_FILES}-file workspace: slot queue, 2 slots {small_queued:6.2f} s; ray runner {wall:6.2f} s "
              f"(on {nodes} nodes)  {wall / small_queued:.2f}x the slot queue's time")
        print(f"\none `python -c pass` on Ray, median of {repeat} (warm):")
        for workspace, files in ((small, SMALL_FILES), (repo, sum(".mlr" not in path.parts for path in repo.rglob("*.py")))):
            runner_ms, task_ms = ray_overhead(ray, workspace, cluster.address, repeat)
            print(f"  {files:5d}-file workspace: bare ray.get(task.remote()) {task_ms:6.0f} ms, the ray runner "
                  f"{runner_ms:6.0f} ms: overhead {runner_ms - task_ms:.0f} ms per run")
    finally:
        disconnect()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray configuration")
    parser.add_argument("--fresh-worktrees", action="store_true",
                        help="a worktree made and removed per run (run.reuseWorktrees off), not the default pool")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    repo, commits = make_workspace(root, args.files, args.runs)
    print(f"workspace: {repo} ({args.files} files, {args.runs} commits)")

    print(f"\nlaying out a commit's tree (median of {args.repeat}; target < {WORKTREE_TARGET_MS:.0f} ms for the one used):")
    for name, (wall, cpu) in bench_worktree_methods(repo, args.repeat).items():
        print(f"  {name:48s} {wall:7.1f} ms wall  {cpu:7.1f} ms CPU")

    pool = 0 if args.fresh_worktrees else args.slots
    placing = ("a fresh worktree per run (run.reuseWorktrees off)" if args.fresh_worktrees else
               "pooled worktrees reused across runs (run.reuseWorktrees on, the default)")
    print(f"\n{args.runs} experiments of {args.seconds:g} s, each in a worktree of its commit: {placing}:")
    alone = serial(repo, commits, args.seconds, min(pool, 1))
    print(f"  serial                 {alone:6.2f} s")
    together, most = slot_queue(repo, commits, args.seconds, args.slots, pool)
    speedup = alone / together
    verdict = "PASS" if speedup >= SPEEDUP_TARGET else "FAIL"
    print(f"  slot queue, {args.slots} slots     {together:6.2f} s  (at most {most} at once)  "
          f"speed-up {speedup:.2f}x  target >= {SPEEDUP_TARGET}x  {verdict}")
    print(f"  ideal with {args.slots} slots      {args.runs * args.seconds / args.slots:6.2f} s")
    if not args.no_ray:
        bench_ray(repo, commits, args.seconds, args.repeat, together, pool)
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
