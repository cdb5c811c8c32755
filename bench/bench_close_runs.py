"""What closing orphaned runs costs every command that starts work (`run`, `debug`,
`implement`, `auto`) and every server start: `mark_interrupted` over a workspace holding N
finished run records and none running (the common case), and over one holding a run whose
owner died with its experiment still running (the whole tree is found and stopped).

    python bench/bench_close_runs.py [--records N] [--repeat K]
Target: < 20 ms for 1,000 finished records; < 0.5 s to close and stop one orphaned run."""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlr_copilot.runners.execute import mark_interrupted, save_record
from mlr_copilot.runners.model import RunRecord, Sandbox
from mlr_copilot.runners.proctree import RUN_ID_VAR, start_ticks


def finished(folder: Path, count: int) -> None:
    for number in range(count):
        save_record(folder, RunRecord(id=f"20240101-000000-{number:06x}", command="python train.py", runner="local",
                                      started_at="2024-01-01T00:00:00.000+00:00", status="passed",
                                      metrics={"score": 0.5}, owner_host=socket.gethostname(), owner_pid=1))


def orphan(folder: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run_id = "20240101-000000-orphan"
    leader = subprocess.Popen(["sleep", "300"], start_new_session=True, env={RUN_ID_VAR: run_id})
    save_record(folder, RunRecord(id=run_id, command="sleep 300", runner="local", started_at="2024-01-01T00:00:00.000+00:00",
                                  owner_host=socket.gethostname(), owner_pid=gone.pid,
                                  sandbox=Sandbox(pid=leader.pid, started=start_ticks(leader.pid))))


def timed(fn, repeat: int, clock=time.perf_counter) -> list[float]:
    seconds = []
    for _ in range(repeat):
        started = clock()
        fn()
        seconds.append(clock() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlr-bench-close-"))
    workspace = root / "finished"
    workspace.mkdir()
    finished(workspace, args.records)
    idle = timed(lambda: mark_interrupted(workspace, containers=False), args.repeat)
    # CPU time too: on a shared machine the wall time says as much about the neighbours
    cpu = timed(lambda: mark_interrupted(workspace, containers=False), args.repeat, time.process_time)
    print(f"{args.records} finished records, none running: median {statistics.median(idle) * 1000:.1f} ms "
          f"(max {max(idle) * 1000:.1f} ms, CPU {statistics.median(cpu) * 1000:.1f} ms); target < 20 ms for 1,000")
    closing = []
    for number in range(5):
        cut = root / f"orphan-{number}"
        cut.mkdir()
        orphan(cut)
        closing += timed(lambda cut=cut: mark_interrupted(cut, containers=False), 1)
        assert json.loads(next((cut / ".mlr" / "runs").glob("*.json")).read_text())["status"] == "interrupted"
    print(f"one orphaned run closed and its process stopped: median {statistics.median(closing) * 1000:.1f} ms "
          f"(max {max(closing) * 1000:.1f} ms); target < 500 ms")
    print(f"work folders: {root}")


if __name__ == "__main__":
    main()
