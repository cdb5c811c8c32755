"""Runs on a real two-node Ray cluster on 127.0.0.1 (the `ray_cluster` fixture, shared with
test_ray_runner.py, whose last test kills the second node)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from mlr_copilot.runners.proctree import session_members
from mlr_copilot.runners.ray_connect import (
    RayResourceError,
    RayResources,
    RayUnavailableError,
    check_fits,
    connect,
)
from mlr_copilot.runners.ray_local import free_port
from mlr_copilot.runners.ray_remote import RayJob, RayRunResult, run_on_ray, tree_tarball
from mlr_copilot.runners.ray_worker import TreeCache
from tests.gitutil import make_repo

from .helpers import leftover_processes
from .sockets import non_loopback_sockets

SCRIPTS = {
    "ok.py": "import json\nprint('hello')\njson.dump({'accuracy': 0.75}, open('results.json', 'w'))\n",
    "fail.py": "print('step 1')\nprint('step 2')\nraise ValueError('bad learning rate')\n",
    "many.py": "import sys\nsys.stdout.writelines(f'line {i}\\n' for i in range(100_000))\n",
    # a child in the run's session and a grandchild that leaves it (setsid): both must go
    "tree.py": (
        "import subprocess, sys, time\n"
        "marker = sys.argv[1]\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', marker])\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', marker], start_new_session=True)\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    ),
    "sleep.py": "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n",
}
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    repo = make_repo(tmp_path_factory.mktemp("ray") / "repo", SCRIPTS)
    return tree_tarball(repo, "HEAD")


def job(tree: bytes, script: str, *args: str, timeout: float = 120.0, where: str = "head",
        commit: str | None = None) -> RayJob:
    return RayJob(run_id=f"ray-{uuid.uuid4().hex[:8]}", argv=[sys.executable, script, *args], env=ENV,
                  timeout_s=timeout, resources=RayResources(num_cpus=1, custom={where: 1}), tree=tree, commit=commit)


def commit_of(files: dict[str, str], folder: Path) -> tuple[str, bytes]:
    repo = make_repo(folder, files)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    return commit.stdout.strip(), tree_tarball(repo, "HEAD")


def run(cluster, ray_job: RayJob, **kwargs) -> tuple[RayRunResult, bytes]:
    output: list[bytes] = []
    result = run_on_ray(connect(cluster.address), ray_job, on_output=output.append, **kwargs)
    return result, b"".join(output)


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_the_cluster_listens_and_connects_on_loopback_only(ray_cluster, tree):
    # a run first, so workers and the client's connections exist too
    assert run(ray_cluster, job(tree, "ok.py"))[0].status == "passed"
    pids = ray_cluster.all_pids() | {os.getpid()}
    assert len(pids) > 8
    assert non_loopback_sockets(pids) == []


def test_runs_land_on_the_node_their_resources_name(ray_cluster, tree):
    ray = connect(ray_cluster.address)
    for where in ("head", "node2"):
        result, output = run(ray_cluster, job(tree, "ok.py", where=where))
        assert result.status == "passed" and result.exit_code == 0
        assert output == b"hello\n"
        assert result.results == b'{"accuracy": 0.75}'
        assert result.node_ip == "127.0.0.1"
        assert result.node_id == ray_cluster.node_id_with(ray, where)


def test_a_failing_run_keeps_its_exit_code_and_last_lines(ray_cluster, tree):
    result, output = run(ray_cluster, job(tree, "fail.py", where="node2"))
    assert result.status == "failed" and result.exit_code == 1
    assert result.message == "exited with code 1"
    lines = output.decode().splitlines()
    assert lines[:2] == ["step 1", "step 2"]
    assert lines[-1] == "ValueError: bad learning rate"
    assert result.results is None


@pytest.mark.parametrize("where", ["head", "node2"])
def test_a_timeout_leaves_no_process_of_the_run(ray_cluster, tree, where):
    marker = f"mlr-ray-{uuid.uuid4().hex}"
    ray_job = job(tree, "tree.py", marker, timeout=4.0, where=where)
    began = time.monotonic()
    result, output = run(ray_cluster, ray_job)
    assert result.status == "timeout" and "time limit of 4 s" in result.message
    assert output == b"started\n"
    assert time.monotonic() - began < 20
    assert processes_with(marker) == []
    assert leftover_processes(ray_job.run_id) == set()


def test_a_cancel_leaves_no_process_of_the_run(ray_cluster, tree):
    marker = f"mlr-ray-{uuid.uuid4().hex}"
    ray_job = job(tree, "tree.py", marker, where="node2")
    cancel = threading.Event()
    seen: list[bytes] = []

    def on_output(chunk: bytes) -> None:
        seen.append(chunk)
        cancel.set()

    result = run_on_ray(connect(ray_cluster.address), ray_job, on_output=on_output, cancel=cancel)
    assert result.status == "cancelled"
    assert b"".join(seen) == b"started\n"
    assert processes_with(marker) == []
    assert leftover_processes(ray_job.run_id) == set()


def test_a_worker_that_dies_mid_run_interrupts_it_in_one_line_and_takes_its_command_along(ray_cluster, tree):
    # the node lives on (its death is test_ray_runner's last test): only the worker process
    # running the task is killed
    ray_job = job(tree, "sleep.py", where="node2")
    started = threading.Event()
    results: list[RayRunResult] = []
    thread = threading.Thread(target=lambda: results.append(run_on_ray(
        connect(ray_cluster.address), ray_job, on_output=lambda chunk: started.set())))
    thread.start()
    try:
        assert started.wait(60), "the run never started"
        [leader] = leftover_processes(ray_job.run_id)
        worker = int(Path(f"/proc/{leader}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert worker in ray_cluster.node2.pids() or _comm(worker).startswith("ray::")
        os.kill(worker, signal.SIGKILL)
    finally:
        thread.join(timeout=90)
    [result] = results
    assert result.status == "interrupted", result.message
    assert result.message.startswith("the run's Ray worker was lost: ") and "\n" not in result.message
    end = time.monotonic() + 10  # the leader dies with its worker (PR_SET_PDEATHSIG)
    while leftover_processes(ray_job.run_id) and time.monotonic() < end:
        time.sleep(0.1)
    assert leftover_processes(ray_job.run_id) == set()
    # the node takes the next run
    assert run(ray_cluster, job(tree, "ok.py", where="node2"))[0].status == "passed"


def test_a_run_that_prints_100k_lines_delivers_every_line_in_order(ray_cluster, tree):
    result, output = run(ray_cluster, job(tree, "many.py", where="node2"))
    assert result.status == "passed"
    assert output.decode().splitlines() == [f"line {i}" for i in range(100_000)]


def test_a_run_in_a_shared_folder_runs_there_and_leaves_it(ray_cluster, tmp_path):
    (tmp_path / "ok.py").write_text(SCRIPTS["ok.py"])
    shared = RayJob("ray-shared", [sys.executable, "ok.py"], ENV, 60, RayResources(custom={"node2": 1}),
                    shared_dir=str(tmp_path))
    result, output = run(ray_cluster, shared)
    assert (result.status, output, result.results) == ("passed", b"hello\n", b'{"accuracy": 0.75}')
    assert (tmp_path / "results.json").is_file()


def test_runs_on_a_node_reuse_a_run_folder_and_see_nothing_of_the_previous_run(ray_cluster, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n")
    # run 1 changes a file, leaves one, replaces one by a symlink pointing outside, another by a folder
    spoil = ("import os, sys\nprint(os.getcwd())\nprint(open('data.txt').read().strip())\n"
             "open('data.txt', 'w').write('changed')\nopen('left.txt', 'w').write('left')\n"
             "os.unlink('link.txt'); os.symlink(sys.argv[1], 'link.txt')\nos.unlink('dir.txt'); os.mkdir('dir.txt')\n")
    files = {"spoil.py": spoil, "data.txt": "pristine\n", "link.txt": "file\n", "dir.txt": "file\n"}
    first, first_tree = commit_of(files, tmp_path / "one")
    second, second_tree = commit_of({**files, "new.txt": "new\n"}, tmp_path / "two")
    outputs = []
    for commit, tree in ((first, first_tree), (second, second_tree), (first, first_tree)):
        result, output = run(ray_cluster, job(tree, "spoil.py", str(outside / "secret.txt"), where="node2",
                                              commit=commit))
        assert result.status == "passed", output
        assert output.decode().splitlines()[1] == "pristine"
        outputs.append(output.decode().splitlines()[0])
    assert len(set(outputs)) == 1 and Path(outputs[0]).name.startswith("dir-")
    assert (outside / "secret.txt").read_text() == "outside\n"
    folder = Path(outputs[0])  # as the third run left it, until the next run's sync
    assert not (folder / "new.txt").exists() and (folder / "left.txt").exists()


def test_a_run_finding_every_run_folder_taken_gets_a_copy_of_its_own(ray_cluster, tmp_path):
    from mlr_copilot.runners import ray_rundirs

    commit, tree = commit_of({"where.py": "import os\nprint(os.getcwd())\n"}, tmp_path / "repo")
    held = [ray_rundirs.lease(commit) for _ in range(ray_rundirs.default_count())]
    try:
        result, output = run(ray_cluster, job(tree, "where.py", where="node2", commit=commit))
    finally:
        for lease in held:
            if lease is not None:
                lease.release()
    assert result.status == "passed"
    workdir = Path(output.decode().strip())
    assert workdir.parent == TreeCache().root
    end = time.monotonic() + 30  # removed by a thread of the worker once the run ended
    while workdir.exists() and time.monotonic() < end:
        time.sleep(0.1)
    assert not workdir.exists()


def make_tree(folder: Path) -> bytes:
    return tree_tarball(make_repo(folder, SCRIPTS), "HEAD")


def test_a_tree_that_is_no_tarball_is_an_error_in_one_line(ray_cluster):
    result, _ = run(ray_cluster, job(b"not a tar file", "ok.py"))
    assert result.status == "error"
    assert result.message.startswith("the run could not start on its Ray node: ReadError: "), result.message
    assert "\n" not in result.message


def test_an_unreachable_address_fails_fast_in_one_line(ray_cluster, tree):
    began = time.monotonic()
    with pytest.raises(RayUnavailableError, match=r"^no Ray cluster answers at ray://127\.0\.0\.1:\d+ \(") as caught:
        connect(f"ray://127.0.0.1:{free_port()}", timeout_s=2.0)
    assert time.monotonic() - began < 5
    assert "\n" not in str(caught.value)
    # the connection in use is kept
    assert run(ray_cluster, job(tree, "ok.py"))[0].status == "passed"


def test_a_request_no_node_can_hold_is_refused_at_once(ray_cluster):
    ray = connect(ray_cluster.address)
    with pytest.raises(RayResourceError, match=r"asking CPU 64.*2 live node\(s\) have: CPU 1; CPU 1"):
        check_fits(ray, RayResources(num_cpus=64))
    with pytest.raises(RayResourceError, match="asking CPU 1, head 1, node2 1"):
        check_fits(ray, RayResources(custom={"head": 1, "node2": 1}))
    with pytest.raises(RayResourceError, match="GPU 3"):  # node2 declares 2
        run_on_ray(ray, RayJob("ray-gpu", ["true"], ENV, 10, RayResources(num_gpus=3), tree=b""))


def test_a_client_of_another_ray_version_is_refused_in_one_line(ray_cluster):
    # this machine's Ray, reporting another version: the cluster's own check refuses it
    code = (
        "import sys, ray; ray.__version__ = '2.0.0'\n"
        "from mlr_copilot.runners import ray_connect\n"
        "try:\n    ray_connect.connect(sys.argv[1])\nexcept ray_connect.RayUnavailableError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, ray_cluster.address], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.startswith(f"the Ray cluster at {ray_cluster.address} runs other versions than this "
                                  "machine (Ray 2.0.0, Python "), done.stderr[-2000:]
    import ray

    assert f"The cluster was started with: Ray: {ray.__version__}" in done.stdout
    assert done.stdout.count("\n") == 1


def test_an_empty_address_starts_a_loopback_head_of_its_own_and_stops_it(tmp_path):
    # a process of its own: this one stays connected to the two-node cluster
    (tmp_path / "ok.py").write_text(SCRIPTS["ok.py"])
    code = (
        "import os, sys\n"
        "from mlr_copilot.runners import ray_connect, ray_remote\n"
        "from tests.runners.sockets import non_loopback_sockets\n"
        "ray = ray_connect.connect('')\n"
        "head = ray_connect._current.head\n"
        "job = ray_remote.RayJob('ray-local', [sys.executable, 'ok.py'], {}, 60, ray_connect.RayResources(),\n"
        "                        shared_dir=sys.argv[1])\n"
        "result = ray_remote.run_on_ray(ray, job)\n"
        "print(result.status, result.node_ip, non_loopback_sockets(head.node.pids() | {os.getpid()}))\n"
        "ray_connect.disconnect()\n"
        "print(sorted(head.node.pids()), head.root.exists())\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=180,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.splitlines() == ["passed 127.0.0.1 []", "[] False"], done.stderr[-2000:]


def test_without_ray_the_module_imports_and_choosing_it_says_how_to_install(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from mlr_copilot.runners import ray_remote, ray_connect\n"
        "try:\n    ray_connect.connect('auto')\nexcept ray_connect.RayUnavailableError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "Ray is not installed: pip install 'mlr-copilot[ray]'\n", done.stderr


def test_a_local_head_whose_owner_is_killed_stops_with_it(tmp_path):
    code = (
        "import time\n"
        "from mlr_copilot.runners import ray_connect\n"
        "ray_connect.connect('')\n"
        "head = ray_connect._current.head\n"
        "print(head.node.process.pid, head.root, flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    try:
        line = owner.stdout.readline() if owner.stdout else ""
        assert line, owner.stderr.read()[-2000:] if owner.stderr else ""
        session, root = int(line.split()[0]), Path(line.split()[1])
        names = {_comm(pid) for pid in session_members(session)}
        assert {"raylet", "gcs_server"} <= names
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
    end = time.monotonic() + 30
    while (session_members(session) or root.exists()) and time.monotonic() < end:
        time.sleep(0.2)
    assert session_members(session) == set() and not root.exists()
    assert processes_with(str(root)) == []


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_a_nodes_tree_cache_keeps_the_last_commits_and_any_in_use(tmp_path):
    import fcntl

    from mlr_copilot.runners.ray_worker import CACHE_KEEP, PARTIAL_STALE_S

    cache = TreeCache(tmp_path)
    commits = [f"{n:040x}" for n in range(CACHE_KEEP + 3)]
    for age, commit in enumerate(reversed(commits)):  # commits[0] is the oldest
        (tmp_path / commit).mkdir()
        (tmp_path / f"{commit}.spare").mkdir()
        for made in (tmp_path / commit, tmp_path / f"{commit}.spare"):
            os.utime(made, (time.time() - 100 * age - 100,) * 2)
    partial = tmp_path / f".{commits[0]}-half"
    partial.mkdir()
    os.utime(partial, (time.time() - PARTIAL_STALE_S - 1,) * 2)
    with open(tmp_path / f"{commits[1]}.lock", "w") as lock:  # a run copying the second oldest
        fcntl.flock(lock, fcntl.LOCK_SH)
        cache._evict(keep=commits[-1])
    left = sorted(path.name for path in tmp_path.iterdir() if len(path.name) == 40)
    assert left == sorted([commits[1], *commits[-CACHE_KEEP:]])
    assert not (tmp_path / f"{commits[0]}.spare").exists() and not partial.exists()


def _cached_commit(root: Path, commit: str, size: int, age_s: float) -> None:
    """A commit's tree and spare in a node's cache, each holding a file of `size` bytes, last
    used `age_s` ago."""
    for made in (root / commit, root / f"{commit}.spare"):
        made.mkdir()
        (made / "data.bin").write_bytes(os.urandom(size))
        os.utime(made, (time.time() - age_s,) * 2)


def _disk_usage(path: Path) -> int:
    done = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0])


def test_a_nodes_tree_cache_keeps_what_fits_its_size_least_recently_used_first(tmp_path):
    commits = [f"{n:040x}" for n in range(5)]  # commits[0] is the least recently used
    for age, commit in enumerate(reversed(commits)):
        _cached_commit(tmp_path, commit, 256 * 1024, 100.0 * age + 100)
    one = _disk_usage(tmp_path / commits[0]) + _disk_usage(tmp_path / f"{commits[0]}.spare")
    # room for three commits' trees and spares, not four
    TreeCache(tmp_path, max_bytes=int(3.5 * one))._evict(keep=commits[-1])
    left = sorted(path.name for path in tmp_path.iterdir() if path.is_dir())
    assert left == sorted([*commits[2:], *(f"{c}.spare" for c in commits[2:])])


def test_a_commit_a_run_is_running_stays_in_the_cache_past_its_size(tmp_path):
    commits = [f"{n:040x}" for n in range(3)]
    for age, commit in enumerate(reversed(commits)):
        _cached_commit(tmp_path, commit, 256 * 1024, 100.0 * age + 100)
    cache = TreeCache(tmp_path, max_bytes=1)  # room for nothing but the commit just made
    running = cache.use(commits[0])
    try:
        cache._evict(keep=commits[-1])
        assert sorted(p.name for p in tmp_path.iterdir() if len(p.name) == 40) == [commits[0], commits[-1]]
        assert (tmp_path / commits[0] / "data.bin").stat().st_size == 256 * 1024
    finally:
        os.close(running)
    cache._evict(keep=commits[-1])  # the run ended: its commit goes like the others
    assert sorted(p.name for p in tmp_path.iterdir() if len(p.name) == 40) == [commits[-1]]
