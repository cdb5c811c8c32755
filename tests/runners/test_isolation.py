"""Runs are isolated from the checkout and share the machine through the slot queue: real git,
real processes (the Docker side is in test_docker_isolation.py)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlr_copilot.config import validate_settings
from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from mlr_copilot.runners.execute import execute, record_path
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunRecord, RunRequest
from mlr_copilot.work import Work
from tests.gitutil import commit, git, make_repo, write

from .helpers import GIT_ENV, only_clean_idle_trees, worktrees_listed

PY = sys.executable
# prints the file it was given, when it ran, what it was given, and keeps an output
PROBE = """
import json, os, sys, time
start = time.time()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
print("VERSION", open("version.txt").read().strip())
print("GPUS", repr(os.environ.get("CUDA_VISIBLE_DEVICES")))
print("CWD", os.getcwd())
open(os.path.join(os.environ["MLR_OUTPUT_DIR"], "model.bin"), "w").write(open("version.txt").read())
json.dump({"start": start, "end": time.time()}, open("results.json", "w"))
"""


def repo_with_two_commits(path: Path) -> tuple[Path, str, str]:
    """A repository whose commit A and B (HEAD) differ in version.txt."""
    repo = make_repo(path, {"probe.py": PROBE, "version.txt": "A\n", ".gitignore": ".mlr/\n"})
    a = git(repo, "rev-parse", "HEAD").strip()
    b = commit(repo, {"version.txt": "B\n"}, "B")
    return repo, a, b


def engine(repo: Path, **run: object) -> Engine:
    settings, _ = validate_settings({"run": {"runner": "local", "timeout": 60, **run}, "ideas": {"online": False}})
    return Engine(repo, settings, environ={**os.environ, **GIT_ENV})


def log_of(repo: Path, record: RunRecord) -> str:
    assert record.log_path
    return (repo / record.log_path).read_text()


def checkout_state(repo: Path) -> dict[str, bytes]:
    """Everything of the checkout a run must not change: its files, index and HEAD."""
    files = {p.relative_to(repo).as_posix(): p.read_bytes() for p in sorted(repo.rglob("*"))
             if p.is_file() and not {".git", ".mlr"} & set(p.relative_to(repo).parts)}
    git_dir = repo / ".git"
    return {**files, "<index>": (git_dir / "index").read_bytes(), "<HEAD>": (git_dir / "HEAD").read_bytes(),
            "<refs/heads/main>": (git_dir / "refs" / "heads" / "main").read_bytes()}


def test_a_run_of_another_commit_leaves_the_checkout_and_a_dirty_file_untouched(tmp_path):
    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    (repo / "version.txt").write_text("being edited\n")
    write(repo, "notes.txt", "untracked, being edited\n")
    before = checkout_state(repo)

    record = asyncio.run(engine(repo).run(Work(), command=[PY, "probe.py"], rev=a))

    assert record.status == "passed", log_of(repo, record)
    assert record.commit == a and record.isolated and not record.uncommitted and record.branch is None
    text = log_of(repo, record)
    assert "VERSION A" in text and f"CWD {repo / '.mlr' / 'worktrees' / 'pool-0'}" in text
    assert checkout_state(repo) == before
    assert git(repo, "rev-parse", "HEAD").strip() == b
    assert record.metrics["start"] > 0  # the results file was read from the run's tree
    assert not (repo / "results.json").exists()
    only_clean_idle_trees(repo)
    note = git(repo, "notes", "--ref=mlr", "show", a)
    assert json.loads(note.strip().splitlines()[-1])["run"] == record.id


def test_with_reuse_off_a_run_gets_its_own_worktree_and_the_idle_ones_go(tmp_path):
    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    reused = asyncio.run(engine(repo).run(Work(), command=[PY, "probe.py"], rev=a))
    assert f"CWD {repo / '.mlr' / 'worktrees' / 'pool-0'}" in log_of(repo, reused)
    only_clean_idle_trees(repo)

    record = asyncio.run(engine(repo, reuseWorktrees=False).run(Work(), command=[PY, "probe.py"], rev=b))
    assert record.status == "passed" and "VERSION B" in log_of(repo, record)
    assert f"CWD {repo / '.mlr' / 'worktrees' / record.id}" in log_of(repo, record)
    assert worktrees_listed(repo) == [f"worktree {repo}"]
    assert not [p for p in (repo / ".mlr" / "worktrees").iterdir() if p.is_dir()]


def test_a_run_of_a_sha_records_the_branch_it_was_taken_from(tmp_path):
    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    git(repo, "branch", "mlr/h1-wider", a)
    run = engine(repo).run
    # the branch the caller names wins, even once the branch has moved on
    git(repo, "branch", "moved-on", b)
    given = asyncio.run(run(Work(), command=[PY, "probe.py"], rev=a, branch="moved-on"))
    assert given.commit == a and given.branch == "moved-on"
    # a sha at the head of exactly one hypothesis branch: that branch
    assert asyncio.run(run(Work(), command=[PY, "probe.py"], rev=a)).branch == "mlr/h1-wider"
    # a sha at the head of the current branch only (moved-on is neither current nor mlr/*)
    assert asyncio.run(run(Work(), command=[PY, "probe.py"], rev=b)).branch == "main"
    # a branch name is its own branch
    assert asyncio.run(run(Work(), command=[PY, "probe.py"], rev="moved-on")).branch == "moved-on"


def test_a_sha_at_the_head_of_two_candidate_branches_records_none(tmp_path):
    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    git(repo, "branch", "mlr/h2-not-started", b)  # created from main, nothing implemented yet
    git(repo, "branch", "other", a)  # neither current nor a hypothesis branch
    run = engine(repo).run
    assert asyncio.run(run(Work(), command=[PY, "probe.py"], rev=b)).branch is None
    assert asyncio.run(run(Work(), command=[PY, "probe.py"], rev=a)).branch is None


def test_a_dirty_tree_runs_a_snapshot_of_it(tmp_path):
    repo, _a, b = repo_with_two_commits(tmp_path / "repo")
    (repo / "version.txt").write_text("dirty\n")
    before = checkout_state(repo)

    record = execute(RunRequest(workspace=str(repo), command=[PY, "probe.py"], timeout=60), LocalRunner())

    assert record.status == "passed" and "VERSION dirty" in log_of(repo, record)
    assert record.uncommitted and record.dirty and record.snapshot_ref == f"refs/mlr/snapshots/{record.id}"
    assert record.commit == git(repo, "rev-parse", record.snapshot_ref).strip() != b
    assert git(repo, "show", f"{record.snapshot_ref}:version.txt") == "dirty\n"
    assert git(repo, "rev-parse", f"{record.snapshot_ref}^").strip() == b == record.snapshot_of
    assert checkout_state(repo) == before
    saved = RunRecord.model_validate_json(record_path(repo, record.id).read_text())
    assert saved.uncommitted and saved.snapshot_ref == record.snapshot_ref


def test_an_untracked_file_is_run_too_and_a_clean_tree_needs_no_snapshot(tmp_path):
    repo, _a, b = repo_with_two_commits(tmp_path / "repo")
    clean = execute(RunRequest(workspace=str(repo), command=[PY, "probe.py"], timeout=60), LocalRunner())
    assert clean.commit == b and not clean.uncommitted and clean.snapshot_ref is None
    write(repo, "extra.py", "print('EXTRA ran')\n")
    record = execute(RunRequest(workspace=str(repo), command=[PY, "extra.py"], timeout=60), LocalRunner())
    assert record.status == "passed" and "EXTRA ran" in log_of(repo, record)
    assert record.uncommitted and not record.dirty and record.commit != b


def intervals(repo: Path, records: list[RunRecord]) -> list[tuple[float, float]]:
    for record in records:
        assert record.status == "passed", log_of(repo, record)
    return sorted((r.metrics["start"], r.metrics["end"]) for r in records)


async def gathered(eng: Engine, *revs: str, seconds: float) -> list[RunRecord]:
    return list(await asyncio.gather(*(eng.run(Work(), command=[PY, "probe.py", str(seconds)], rev=rev) for rev in revs)))


def test_two_commits_run_at_once_on_two_slots(tmp_path):
    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    records = asyncio.run(gathered(engine(repo, parallel=2), a, b, seconds=1.5))
    (_s1, e1), (s2, _e2) = intervals(repo, records)
    assert s2 < e1, "the two runs did not overlap"
    assert {r.slot for r in records} == {0, 1}
    assert {log_of(repo, r).split("VERSION ")[1][0] for r in records} == {"A", "B"}
    assert all(r.queue_wait_s is not None and r.queue_wait_s < 1 for r in records)
    # both ended at once, and both summaries are in their commits' notes
    assert all(r.noted and r.id in git(repo, "notes", "--ref=mlr", "show", r.commit or "") for r in records)


def test_runs_never_exceed_the_slots(tmp_path):
    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    records = asyncio.run(gathered(engine(repo, parallel=1), a, b, a, seconds=0.3))
    spans = intervals(repo, records)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans)), spans
    assert {r.slot for r in records} == {0}
    assert max(r.queue_wait_s or 0 for r in records) > 0.3  # the last one waited for two runs


def test_each_run_sees_only_its_slots_gpus(tmp_path):
    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    records = asyncio.run(gathered(engine(repo, parallel=2, gpuIds=["3", "7"]), a, b, seconds=0.5))
    seen = {r.id: log_of(repo, r).split("GPUS ")[1].splitlines()[0] for r in records}
    assert sorted(seen.values()) == ["'3'", "'7'"]
    assert all(seen[r.id] == repr(",".join(r.gpu_ids or [])) for r in records)
    # a slot without GPUs hides them all, on a machine that has some
    [cpu_only] = asyncio.run(gathered(engine(repo, parallel=1, gpusPerRun=0, gpuIds=["3"]), a, seconds=0))
    assert "GPUS ''" in log_of(repo, cpu_only) and cpu_only.gpu_ids == []


def test_outputs_are_kept_per_run(tmp_path):
    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    records = asyncio.run(gathered(engine(repo, parallel=2), a, b, seconds=0))
    kept = {(repo / r.outputs / "model.bin").read_text() for r in records if r.outputs}
    assert kept == {"A\n", "B\n"}
    assert {r.outputs for r in records} == {f".mlr/runs/{r.id}" for r in records}


def test_a_rev_that_does_not_exist_is_one_line_and_leaves_no_running_record(tmp_path):
    repo, _a, _b = repo_with_two_commits(tmp_path / "repo")
    with pytest.raises(MlrError) as raised:
        asyncio.run(engine(repo).run(Work(), command=[PY, "probe.py"], rev="no-such-branch"))
    message = str(raised.value)
    assert "\n" not in message and "no-such-branch" in message
    records = [RunRecord.model_validate_json(p.read_text()) for p in (repo / ".mlr" / "runs").glob("*.json")]
    assert [r.status for r in records] == ["error"] and records[0].message == message
    assert worktrees_listed(repo) == [f"worktree {repo}"]


def test_a_full_disk_while_placing_a_run_is_one_line_an_error_record_and_a_free_slot(tmp_path):
    # the worktree side of it is test_worktrees' own; here the run around it
    if os.geteuid() != 0:
        pytest.skip("simulating a full disk needs a tiny tmpfs, which only root can mount")
    repo = make_repo(tmp_path / "repo", {"probe.py": PROBE, "version.txt": "A\n", "big.bin": "x" * 400_000,
                                         ".gitignore": ".mlr/\n"})
    folder = repo / ".mlr" / "worktrees"
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    machine = engine(repo, parallel=1)
    try:
        with pytest.raises(MlrError) as raised:
            asyncio.run(machine.run(Work(), command=[PY, "probe.py"], rev="HEAD"))
        message = str(raised.value)
        assert "\n" not in message and "kB free" in message, message
        [record] = [RunRecord.model_validate_json(p.read_text()) for p in (repo / ".mlr" / "runs").glob("*.json")]
        assert (record.status, record.message) == ("error", message)
        # nothing but the pool's lease file, which is no worktree
        assert worktrees_listed(repo) == [f"worktree {repo}"]
        assert [p.name for p in folder.iterdir() if p.suffix != ".lease"] == []
    finally:
        subprocess.run(["umount", str(folder)], check=True)
    # the slot it held is free: the next run takes it once there is room
    assert asyncio.run(machine.run(Work(), command=[PY, "probe.py"], rev="HEAD")).status == "passed"


def cli(repo: Path, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, **GIT_ENV, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([PY, "-m", "mlr_copilot.cli", "run", "-w", str(repo), "--runner", "local", "--json", "--", *argv],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_a_killed_cli_leaves_nothing_of_its_run_after_the_next_command(tmp_path):
    repo, _a, _b = repo_with_two_commits(tmp_path / "repo")
    doomed = cli(repo, PY, "-c", "open('leftover.txt', 'w').write('x'); open('version.txt', 'w').write('changed')\n"
                 "import time; time.sleep(60)")
    folder = repo / ".mlr" / "worktrees"
    deadline = time.monotonic() + 30
    while not (folder.is_dir() and any(p.is_dir() for p in folder.iterdir())):
        assert time.monotonic() < deadline and doomed.poll() is None, doomed.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # the experiment has started in it
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert len(worktrees_listed(repo)) == 2

    out, err = cli(repo, PY, "-c", "import os; print('LEFT', os.path.exists('leftover.txt'), open('version.txt').read())"
                   ).communicate(timeout=60)
    assert json.loads(out)["status"] == "passed", err
    assert "LEFT False B" in (repo / json.loads(out)["log_path"]).read_text()
    # the killed run's tree was removed; the next run's is back in the pool, clean
    only_clean_idle_trees(repo)
    [interrupted] = [r for r in (RunRecord.model_validate_json(p.read_text()) for p in (repo / ".mlr" / "runs").glob("*.json"))
                     if r.status == "interrupted"]
    assert interrupted.isolated


def test_a_run_cancelled_through_the_queue_stops_and_says_so(tmp_path):
    from mlr_copilot.runners.queue import cancel, queue_status

    repo, a, _b = repo_with_two_commits(tmp_path / "repo")
    eng = engine(repo, parallel=1)

    async def cancel_when_running() -> None:
        while not [e for e in queue_status(repo) if e.state == "running"]:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        [running] = [e for e in queue_status(repo) if e.state == "running"]
        await asyncio.to_thread(cancel, repo, running.run_id)

    async def both() -> RunRecord:
        record, _ = await asyncio.gather(eng.run(Work(), command=[PY, "probe.py", "60"], rev=a), cancel_when_running())
        return record

    started = time.monotonic()
    record = asyncio.run(both())
    assert record.status == "cancelled" and time.monotonic() - started < 20
    assert [e.state for e in queue_status(repo)] == ["cancelled"]
    only_clean_idle_trees(repo)


def test_cancelling_the_operation_stops_its_running_run_and_its_waiting_one(tmp_path):
    from mlr_copilot.runners.queue import RunCancelledError

    repo, a, b = repo_with_two_commits(tmp_path / "repo")
    eng, work = engine(repo, parallel=1), Work()

    async def cancel_soon() -> None:
        while eng.slot_queue().running == 0:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        work.cancel.set()

    async def all_of_it() -> list[object]:
        runs = [eng.run(work, command=[PY, "probe.py", "60"], rev=rev) for rev in (a, b)]
        return list(await asyncio.gather(*runs, cancel_soon(), return_exceptions=True))

    started = time.monotonic()
    first, second, _ = asyncio.run(all_of_it())
    assert time.monotonic() - started < 20
    assert isinstance(first, RunRecord) and first.status == "cancelled"
    assert isinstance(second, RunCancelledError), second
    only_clean_idle_trees(repo)


def test_ignored_entries_are_seen_by_the_run_and_survive_its_worktree(tmp_path):
    # datasets and checkpoints are ignored, so never in a commit's tree: the run finds them
    # linked where they always were, and removing its worktree never touches them
    repo = make_repo(tmp_path / "repo", {
        ".gitignore": "data/\ncache.bin\n",
        "train.py": "import pathlib\nrows = pathlib.Path('data/train.csv').read_text().split()\n"
                    "pathlib.Path('data/seen.txt').write_text('yes')\nprint(f'METRIC rows={len(rows)}')\n",
    })
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("a\nb\nc\n")
    (repo / "cache.bin").write_bytes(b"\0" * 10)
    (repo / ".env").write_text("SECRET=1\n")
    record = execute(RunRequest(workspace=str(repo), command=[PY, "train.py"], timeout=60), LocalRunner())
    assert record.status == "passed" and record.metrics == {"rows": 3.0} and record.isolated
    assert (repo / "data" / "train.csv").read_text() == "a\nb\nc\n" and (repo / "cache.bin").stat().st_size == 10
    assert (repo / "data" / "seen.txt").read_text() == "yes"  # written through the link, kept
    assert not list((repo / ".mlr" / "worktrees").glob("*/"))
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # only the checkout
