"""The language server killed with SIGKILL while a command runs: the next server to start on
the workspace closes what it left (the run is recorded `interrupted`, its whole process tree
is stopped), and the work it was doing resumes with nothing lost and no user action."""

from __future__ import annotations

import shutil

from mlr_copilot.autonomous.demo import demo_files
from mlr_copilot.runners import proctree
from tests.gitutil import git, make_repo

from .probe import TASK, agent_commits, branches, cli, runs, wait_until, write_script
from .probe import TRAIN as PROBE_TRAIN
from .rawlsp import RawServer

# an experiment with a child that dropped its environment (and the run's marker with it)
TRAIN = """
import subprocess, time
subprocess.Popen(["sleep", "300"], env={})
print("ready", flush=True)
time.sleep(300)
"""
SETTINGS = {"run": {"runner": "local"}}


def alive(pid: int) -> bool:
    info = proctree._stat(pid)
    return info is not None and info[0] != "Z"


def test_a_server_killed_mid_run_leaves_a_run_that_the_next_server_closes_and_stops(tmp_path):
    ws = make_repo(tmp_path / "ws", {"train.py": TRAIN})
    first = RawServer(ws, SETTINGS)
    try:
        first.command("mlrCopilot.run", {"command": "python train.py"})
        assert wait_until(lambda: any(r["status"] == "running" and r.get("sandbox") for r in runs(ws)), timeout=30)
        [record] = runs(ws)
        leader = record["sandbox"]["pid"]
        assert wait_until(lambda: len(proctree.session_members(leader)) >= 2, timeout=30)
        tree = proctree.session_members(leader)
    finally:
        first.kill()
    assert all(alive(pid) for pid in tree), "the experiment outlives its killed server"

    second = RawServer(ws, SETTINGS)
    try:
        assert wait_until(lambda: runs(ws)[0]["status"] == "interrupted", timeout=30)
        assert wait_until(lambda: not any(alive(pid) for pid in tree), timeout=10), "every process of the tree is stopped"
        assert wait_until(lambda: any(record["id"] in shown and "interrupted" in shown for shown in second.shown()), timeout=10)
        # the next run starts alone and ends as it should
        answer = second.command("mlrCopilot.run", {"command": "python -c \"print('METRIC score=1')\""}, wait=True)
        assert answer["result"]["status"] == "passed"
    finally:
        second.close()


def test_a_server_killed_during_implement_loses_no_commit_and_the_next_one_finishes_it(tmp_path):
    ws = make_repo(tmp_path / "ws", {"task.toml": TASK, "train.py": PROBE_TRAIN})
    shutil.copyfile(demo_files()[0], ws / "paper.pdf")
    script = write_script(tmp_path / "script.jsonl")
    assert cli("ideas", str(ws / "paper.pdf"), "--n", "3", "--provider", "scripted", "--script", str(script), "--offline",
               "-w", str(ws)).returncode == 0
    assert cli("accept", "h1", "-w", str(ws)).returncode == 0
    settings = {"llm": {"provider": "scripted", "script": str(script)}, "ideas": {"online": False}, **SETTINGS}
    base = git(ws, "rev-parse", "HEAD").strip()
    proposals = ws / ".mlr" / "proposals"
    first = RawServer(ws, settings)
    try:
        first.command("mlrCopilot.implement", "h1")
        assert wait_until(lambda: proposals.is_dir() and any(proposals.iterdir()), timeout=30)
        first.command("mlrCopilot.acceptEdit", next(proposals.iterdir()).name)
        # killed the moment the accepted change is committed
        assert wait_until(lambda: any(sha != base for name, sha in branches(ws).items() if name.startswith("mlr/")), timeout=30)
    finally:
        first.kill()
    [committed] = agent_commits(ws)
    write_script(script, step_committed=True)

    second = RawServer(ws, settings)
    try:
        answer = second.command("mlrCopilot.implement", "h1", wait=True)["result"]
    finally:
        second.close()
    assert answer["status"] == "done"
    assert git(ws, "rev-parse", answer["branch"]).strip() == committed
    assert git(ws, "status", "--porcelain", "--untracked-files=no") == ""
    assert 'MODE = "better"' in (ws / "train.py").read_text()
