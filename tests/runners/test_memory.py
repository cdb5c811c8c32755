"""`run.memoryMb` holds for a local run's whole process tree where the machine has a memory
cgroup to give it, and the log says it holds per process only where it has none."""

from __future__ import annotations

import json
import sys
import time

import pytest

from mlr_copilot.runners import memcgroup
from mlr_copilot.runners.execute import execute
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.memcgroup import GROUP, MemoryCgroup
from mlr_copilot.runners.model import RunRequest
from mlr_copilot.runners.proctree import cgroup_hierarchy
from tests.gitutil import write

from .helpers import leftover_processes

MEMORY = cgroup_hierarchy("memory")
needs_cgroup = pytest.mark.skipif(MEMORY is None, reason="no memory cgroup this process may create (not root, no delegation)")

# The parent starts three children that each fill `MB` megabytes and hold them for a while.
TREE = """
import subprocess, sys
child = "import time; block = b'x' * ({mb} * 1024 * 1024); time.sleep(20)"
children = [subprocess.Popen([sys.executable, "-c", child]) for _ in range(3)]
print("METRIC codes=" + str(sum(abs(c.wait()) for c in children)), flush=True)
"""


def run_tree(workspace, mb: int, memory_mb: int = 1024, timeout: float = 60):
    write(workspace, "train.py", TREE.format(mb=mb))
    req = RunRequest(workspace=str(workspace), command=[sys.executable, "train.py"], timeout=timeout,
                     memory_mb=memory_mb, max_processes=64)
    return execute(req, LocalRunner(), primary_metric="codes", direction="minimize")


@needs_cgroup
def test_three_400_mb_children_pass_no_1024_mb_limit_together(tmp_path):
    start = time.monotonic()
    record = run_tree(tmp_path, 400)
    assert time.monotonic() - start < 20, "the run is stopped, not waited out"
    assert record.status == "oom", record.message
    assert record.failures[0].kind == "oom"
    assert "1024 MB" in record.failures[0].message
    log = (tmp_path / record.log_path).read_text()
    assert "together passed 1024 MB" in log or record.exit_code == -9
    assert leftover_processes(record.id) == set()
    assert not (MEMORY / GROUP / record.id).exists(), "the run's cgroup is removed"


@needs_cgroup
def test_a_tree_under_the_limit_passes(tmp_path):
    record = run_tree(tmp_path, 100, timeout=60)
    assert record.status == "passed" and record.metrics["codes"] == 0
    assert "per process only" not in (tmp_path / record.log_path).read_text()


@needs_cgroup
def test_stale_empty_run_cgroups_are_removed_at_the_next_run(tmp_path, monkeypatch):
    stale = MEMORY / GROUP / "19990101-000000-dead00"
    stale.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(memcgroup, "STALE_AFTER_S", 0)
    cgroup, _ = MemoryCgroup.create("20990101-000000-live00", 64)
    try:
        assert not stale.exists()
        assert cgroup is not None and cgroup.path.is_dir()
    finally:
        cgroup.remove()


def test_without_a_cgroup_the_log_says_the_limit_is_per_process(tmp_path, monkeypatch):
    monkeypatch.setattr(memcgroup, "cgroup_hierarchy", lambda controller: None)
    write(tmp_path, "train.py", "print('METRIC a=1')\n")
    req = RunRequest(workspace=str(tmp_path), command=[sys.executable, "train.py"], timeout=30, memory_mb=512)
    record = execute(req, LocalRunner(), primary_metric="a")
    assert record.status == "passed"
    notes = [line for line in (tmp_path / record.log_path).read_text().splitlines() if "per process only" in line]
    assert len(notes) == 1 and "512 MB" in notes[0]


@pytest.mark.parametrize("run_id", ["../..", "..", "../mlr-copilot-elsewhere", "a/b", "-rf", "", "x" * 101, "run\n"])
def test_a_planted_run_record_never_names_another_folder_or_cgroup(tmp_path, run_id):
    """Closing interrupted runs kills a dead run's cgroup members: a record from a cloned
    workspace naming `../..` would otherwise name the cgroup of every process."""
    from mlr_copilot.engine import Engine
    from mlr_copilot.errors import MlrError
    from mlr_copilot.runners.execute import mark_interrupted
    from mlr_copilot.runners.model import RunRecord

    with pytest.raises(ValueError):
        RunRecord(id=run_id, command="x", runner="local", started_at="2024-01-01T00:00:00Z")
    runs = tmp_path / ".mlr" / "runs"
    runs.mkdir(parents=True)
    planted = runs / "planted.json"
    planted.write_text(f'{{"id": {json.dumps(run_id)}, "command": "x", "runner": "local", '
                       '"started_at": "2024-01-01T00:00:00Z", "status": "running"}')
    assert mark_interrupted(tmp_path) == []
    assert '"running"' in planted.read_text()
    with pytest.raises(MlrError, match="is not a run id"):
        Engine(tmp_path, None).run_record(run_id)


@needs_cgroup
def test_an_interrupted_runs_cgroup_members_are_killed_and_its_cgroup_removed(tmp_path):
    """A run whose server died: its processes are found through its memory cgroup too (a
    child that dropped the run's environment marker), then the cgroup goes."""
    import subprocess

    from mlr_copilot.runners.execute import mark_interrupted, save_record
    from mlr_copilot.runners.model import RunRecord

    run_id = "20240101-000000-abcdef"
    cgroup, _ = MemoryCgroup.create(run_id, 256)
    assert cgroup is not None
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], env={},
                              preexec_fn=cgroup.join_self)
    try:
        assert orphan.pid in cgroup.pids()
        save_record(tmp_path, RunRecord(id=run_id, command="python train.py", runner="local",
                                        started_at="2024-01-01T00:00:00Z", owner_host=None, owner_pid=None))
        assert [r.id for r in mark_interrupted(tmp_path)] == [run_id]
        assert orphan.wait(timeout=10) == -9
        assert not cgroup.path.exists()
    finally:
        orphan.kill()
        cgroup.remove()


def test_cgroup_v2_files_are_the_ones_written_and_read(tmp_path, monkeypatch):
    """This machine may have cgroup v1 only: the v2 layout is checked on a folder shaped like
    one (what the kernel would show once `+memory` is enabled for the run's parent)."""
    monkeypatch.setattr(memcgroup, "cgroup_hierarchy", lambda controller: tmp_path)
    cgroup, why = MemoryCgroup.create("20240101-000000-v2v2v2", 1024)
    assert cgroup is not None, why
    assert (tmp_path / GROUP / "cgroup.subtree_control").read_text() == "+memory"
    files = {name: (cgroup.path / name).read_text() for name in ("memory.max", "memory.swap.max", "memory.oom.group")}
    assert files == {"memory.max": str(1024 * 1024 * 1024), "memory.swap.max": "0", "memory.oom.group": "1"}
    assert cgroup.oom_kills() == 0
    (cgroup.path / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 1\n")
    assert cgroup.oom_kills() == 1


def test_doctor_says_where_the_memory_limit_holds(tmp_path):
    from mlr_copilot.engine import Engine

    rows = {row.check: (row.finding, row.ok) for row in Engine.load(tmp_path).doctor()}
    finding, ok = rows["local memory"]
    assert ok == (MEMORY is not None)
    assert ("processes together" if ok else "per process only") in finding
