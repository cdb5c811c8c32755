"""Speed of the run sandbox and the history: run by hand, prints figures.

    python bench/bench_runs.py [--repeat N] [--image mlr-python:bookworm]

Targets: local runner overhead over a bare `python -c pass` <= 0.1 s, for the runner alone and
for the whole `execute()` (record, git queries, the run's snapshot and worktree, note); a Docker run with a cached image
< 1 s; the history table of 1,000 runs < 0.3 s. Also: a Docker run printing 27 MB of lines
against a plain `docker run` of the same script (the output must not slow it), and, for
reference, what a whole `mlr-copilot run` process adds (Python's and the package's start-up).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlr_copilot.history import history, load_runs
from mlr_copilot.runners.docker import (
    DockerRunner,
    DockerUnavailableError,
    docker_client,
    image_exists,
)
from mlr_copilot.runners.execute import execute, save_record
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunRecord, RunRequest

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def median_time(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


def bench_local(workspace: Path, repeat: int) -> None:
    argv = [sys.executable, "-c", "pass"]
    bare = median_time(lambda: subprocess.run(argv, check=True), repeat)
    request = RunRequest(workspace=str(workspace), command=argv, timeout=60)
    runner = LocalRunner()
    runner_only = median_time(lambda: runner.run(request), repeat)
    full = median_time(lambda: execute(request, runner), repeat)
    cli = [sys.executable, "-m", "mlr_copilot.cli", "run", "--runner", "local", "--workspace", str(workspace), "--", *argv]
    process = median_time(lambda: subprocess.run(cli, capture_output=True), repeat)
    print(f"bare `python -c pass`               {bare * 1000:8.1f} ms")
    print(f"LocalRunner.run                     {runner_only * 1000:8.1f} ms  overhead {(runner_only - bare) * 1000:6.1f} ms (target <= 100)")
    print(f"execute(): worktree, record, note   {full * 1000:8.1f} ms  overhead {(full - bare) * 1000:6.1f} ms (target <= 100)")
    print(f"`mlr-copilot run` process           {process * 1000:8.1f} ms  overhead {(process - bare) * 1000:6.1f} ms "
          "(Python, pydantic and the package's imports on top of execute())")


def bench_docker(workspace: Path, image: str, repeat: int) -> None:
    try:
        client = docker_client(timeout=5)
    except DockerUnavailableError as exc:
        print(f"docker: skipped ({exc})")
        return
    if not image_exists(client, image):
        print(f"docker: skipped (image {image} missing; run scripts/build-base-image.sh)")
        return
    request = RunRequest(workspace=str(workspace), command=["python", "-c", "pass"], timeout=60, image=image)
    runner = DockerRunner(image, client=client)
    runner.run(request)
    elapsed = median_time(lambda: runner.run(request), repeat)
    print(f"Docker run of `python -c pass`      {elapsed * 1000:8.1f} ms  (target < 1000)")
    bench_docker_output(workspace, image, runner)


LOUD = "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(270_000):\n    sys.stdout.write(line)\nprint('METRIC acc=1')\n"


def bench_docker_output(workspace: Path, image: str, runner: DockerRunner) -> None:
    (workspace / "loud.py").write_text(LOUD)
    plain = ["docker", "run", "--rm", "--network", "none", "-v", f"{workspace}:/workspace", "-w", "/workspace",
             image, "python", "loud.py"]
    bare = median_time(lambda: subprocess.run(plain, check=True, stdout=subprocess.DEVNULL), 3)
    for cap_mb in (200, 5):
        request = RunRequest(workspace=str(workspace), command=["python", "loud.py"], timeout=600, image=image,
                             max_output_mb=cap_mb)
        outcomes = []
        elapsed = median_time(lambda outcomes=outcomes, request=request: outcomes.append(runner.run(request)), 3)
        metric = "METRIC kept" if outcomes[-1].log_metrics == {"acc": 1.0} else "METRIC LOST"
        print(f"Docker run, 27 MB of output, cap {cap_mb:3d} MB {elapsed * 1000:8.1f} ms  plain docker run {bare * 1000:8.1f} ms  {metric}")


def bench_history(root: Path, runs: int = 1000, commits: int = 50) -> None:
    repo = root / "history-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = []
    for index in range(commits):
        (repo / "step.txt").write_text(f"{index}\n")
        git(repo, "add", "step.txt")
        git(repo, "commit", "-q", "-m", f"step {index}", "-m", f"MLR-Hypothesis: h{index % 5}")
        shas.append(git(repo, "rev-parse", "HEAD").strip())
    for index in range(runs):
        save_record(
            repo,
            RunRecord(
                id=f"20250101-000000-{index:06d}", commit=shas[index % commits], branch="main",
                command="python train.py", runner="local", started_at=f"2025-01-01T00:{index // 60 % 60:02d}:{index % 60:02d}.000+00:00",
                duration_s=12.5, status="passed" if index % 7 else "failed", exit_code=0 if index % 7 else 1,
                metrics={"accuracy": 0.5 + index / 4000, "loss": 1.0 - index / 2000}, primary_metric="accuracy",
                direction="maximize", log_path=f".mlr/logs/{index}.log",
            ),
        )
    load = median_time(lambda: load_runs(repo), 5)
    table = median_time(lambda: history(repo), 5)
    rows = len(history(repo).rows)
    print(f"load_runs, {runs} records             {load * 1000:8.1f} ms")
    print(f"history table, {runs} runs, {rows} rows  {table * 1000:8.1f} ms  (target < 300)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--image", default=os.environ.get("MLR_TEST_IMAGE", "mlr-python:bookworm"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workspace = root / "ws"
        workspace.mkdir()
        git(workspace, "init", "-q", "-b", "main")
        (workspace / "README.md").write_text("bench\n")
        git(workspace, "add", "README.md")
        git(workspace, "commit", "-q", "-m", "init")
        bench_local(workspace, args.repeat)
        bench_docker(workspace, args.image, max(3, args.repeat // 3))
        bench_history(root)


if __name__ == "__main__":
    main()
