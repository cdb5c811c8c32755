"""`mlr-copilot auto` killed with SIGKILL at every phase boundary, then `auto --resume` with no
other flag: the session completes, no agent commit or run is lost from the branch or the
report, no run is left `running`, no experiment outlives it, and the history holds every run.

A kill point is "the first moment condition X holds", watched on the files the session writes
(its state, the run records, the branch refs), polled every few milliseconds."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from mlr_copilot.autonomous.demo import demo_files

from .probe import (
    BASELINE,
    FAILING,
    FIXED,
    agent_commits,
    auto,
    branches,
    git,
    live_experiments,
    make_workspace,
    read,
    runs,
    wait_until,
    write_script,
)


def session(ws: Path) -> dict:
    return read(ws / ".mlr" / "auto" / "state.json") or {}


def ideas(ws: Path) -> dict:
    found = list((ws / ".mlr" / "ideas").glob("*/run.json")) if (ws / ".mlr" / "ideas").is_dir() else []
    return (read(found[0]) or {}) if found else {}


def implementation(ws: Path) -> dict:
    found = list((ws / ".mlr" / "implement").glob("*/state.json")) if (ws / ".mlr" / "implement").is_dir() else []
    return (read(found[0]) or {}) if found else {}


def hypothesis(ws: Path) -> dict:
    return (session(ws).get("hypotheses") or [{}])[0]


def branch_tip(ws: Path) -> str | None:
    return next((sha for name, sha in branches(ws).items() if name.startswith("mlr/")), None)


def fix_committed(ws: Path) -> bool:
    tip, steps = branch_tip(ws), implementation(ws).get("steps") or []
    return bool(tip and steps and tip not in {session(ws).get("base_commit"), steps[0].get("commit")})


def running(ws: Path, commit_other_than_base: bool = False, sandboxed: bool = False) -> bool:
    base = session(ws).get("base_commit")
    return any(r["status"] == "running" and (not sandboxed or r.get("sandbox"))
               and (not commit_other_than_base or r["commit"] != base) for r in runs(ws))


# name -> (the hold file that keeps that point's run going, the condition)
KILL_POINTS = {
    "session-saved": (None, lambda ws: bool(session(ws))),
    "baseline-started": (BASELINE, lambda ws: running(ws)),
    "baseline-sandboxed": (BASELINE, lambda ws: running(ws, sandboxed=True)),
    "baseline-recorded": (None, lambda ws: any(r["status"] == "passed" for r in runs(ws))),
    "baseline-saved": (None, lambda ws: bool(session(ws).get("baseline"))),
    "paper-analysed": (None, lambda ws: bool(ideas(ws).get("analysis"))),
    "hypotheses-saved": (None, lambda ws: bool(session(ws).get("ideas_done"))),
    "hypothesis-accepted": (None, lambda ws: any(h.get("status") == "accepted" for h in ideas(ws).get("hypotheses", []))),
    "implementation-started": (None, lambda ws: bool(implementation(ws))),
    "branch-made": (None, lambda ws: branch_tip(ws) is not None),
    "change-committed": (None, lambda ws: branch_tip(ws) not in (None, session(ws).get("base_commit"))),
    "implementation-done": (None, lambda ws: implementation(ws).get("status") == "done"),
    "implementation-saved": (None, lambda ws: hypothesis(ws).get("status") == "implemented"),
    "failing-run-started": (FAILING, lambda ws: running(ws, commit_other_than_base=True, sandboxed=True)),
    "failing-run-recorded": (None, lambda ws: any(r["status"] == "failed" for r in runs(ws))),
    "fix-committed": (None, fix_committed),
    "fixed-run-started": (FIXED, lambda ws: fix_committed(ws) and running(ws, commit_other_than_base=True, sandboxed=True)),
    "fixed-run-recorded": (None, lambda ws: sum(r["status"] == "passed" for r in runs(ws)) >= 2),
    "hypothesis-done": (None, lambda ws: hypothesis(ws).get("status") == "done"),
    "session-done": (None, lambda ws: session(ws).get("status") == "done"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_auto_killed_at_a_phase_boundary_resumes_with_nothing_lost(tmp_path, point):
    hold, condition = KILL_POINTS[point]
    ws = make_workspace(tmp_path / "ws")
    script = write_script(tmp_path / "script.jsonl")
    if hold:
        (ws / hold).touch()
    first = auto(ws, "--provider", "scripted", "--script", str(script), "--offline", "--runner", "local",
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        reached = wait_until(lambda: condition(ws), proc=first)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert reached, f"the session ended before '{point}' held"
    if hold:
        (ws / hold).unlink()
    if running(ws, sandboxed=True):
        assert live_experiments(ws), "the experiment outlives its killed owner"
    commits_before = agent_commits(ws)
    runs_before = {r["id"]: r for r in runs(ws)}
    # what an LLM would answer now: no change it already sees committed is proposed again
    write_script(script, step_committed=len(commits_before) >= 1, fix_committed=len(commits_before) >= 2)

    resumed = auto(ws, "--resume", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = resumed.communicate(timeout=120)

    assert resumed.returncode == 0, out[-2000:] + err[-3000:]
    assert "Status: done" in out and "Traceback" not in err
    after = {r["id"]: r for r in runs(ws)}
    assert [r for r in after.values() if r["status"] == "running"] == []
    assert live_experiments(ws) == set(), "no experiment outlives the resumed session"
    for run_id, record in runs_before.items():
        assert run_id in after, f"run {run_id} was lost"
        if record["status"] == "running":
            assert after[run_id]["status"] == "interrupted"
    assert sum(r["status"] == "passed" and r["baseline"] for r in after.values()) == 1
    state = session(ws)
    [result] = state["hypotheses"]
    for sha in commits_before:
        assert subprocess.run(["git", "merge-base", "--is-ancestor", sha, result["branch"]], cwd=ws).returncode == 0
    # the report is what the branch and the records hold: both commits, every run at them
    assert len(result["commits"]) == 2 and set(commits_before) <= set(result["commits"])
    at_branch = {r["id"] for r in after.values() if r["commit"] in result["commits"]}
    assert {r["run"] for r in result["runs"]} == at_branch
    assert result["best"]["value"] == 0.8 and result["success"]
    assert git(ws, "status", "--porcelain", "--untracked-files=no") == ""
    for record in after.values():
        if record["commit"]:
            assert record["id"] in git(ws, "notes", "--ref=mlr", "show", record["commit"])
    # the settings it takes from the saved session are shown before anything runs
    assert "resuming the session" in err and "llm.provider='scripted'" in err


def test_a_session_still_running_is_neither_resumed_beside_itself_nor_closed(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    script = write_script(tmp_path / "script.jsonl")
    (ws / BASELINE).touch()
    first = auto(ws, "--provider", "scripted", "--script", str(script), "--offline", "--runner", "local",
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: running(ws, sandboxed=True), proc=first)
        for again in (["--resume"], ["--provider", "scripted", "--script", str(script), "--runner", "local"]):
            second = auto(ws, *again, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = second.communicate(timeout=60)
            assert second.returncode == 2 and "still running in this workspace" in err, out + err
        assert [r["status"] for r in runs(ws)] == ["running"] and live_experiments(ws)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert live_experiments(ws) == set()


def test_a_session_from_a_paper_killed_before_its_ideas_resumes_from_that_paper(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    paper = tmp_path / "paper.pdf"
    shutil.copyfile(demo_files()[0], paper)
    script = write_script(tmp_path / "script.jsonl")
    first = auto(ws, "--paper", str(paper), "--provider", "scripted", "--script", str(script), "--offline", "--runner", "local",
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        reached = wait_until(lambda: bool(session(ws).get("baseline")), proc=first)
    finally:
        first.kill()
        first.wait()
    assert reached and not session(ws).get("ideas_done")

    resumed = auto(ws, "--resume", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = resumed.communicate(timeout=120)

    assert resumed.returncode == 0, out[-2000:] + err[-3000:]
    assert ideas(ws)["paper_path"] == str(paper) and "Bag-of-Words" in ideas(ws)["paper_title"]
    assert session(ws)["hypotheses"][0]["success"]
