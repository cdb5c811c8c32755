"""SIGTERM (a service manager, `kill`) and SIGHUP (the terminal closed) to `run`, `debug` and
`auto` do what Ctrl-C does: the experiment's whole tree is stopped, the run is recorded
`cancelled`, the command exits with 128 + the signal, and an autonomous session resumes."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.gitutil import make_repo

from .probe import (
    BASELINE,
    ENV,
    TASK,
    TRAIN,
    live_experiments,
    read,
    runs,
    wait_until,
    write_script,
)

COMMANDS = {
    "run": ["run"],
    "debug": ["debug", "--yes"],
    "auto": ["auto", "--provider", "scripted", "--offline"],
}


@pytest.mark.parametrize("command,sig", [("run", signal.SIGTERM), ("run", signal.SIGHUP), ("debug", signal.SIGTERM),
                                         ("auto", signal.SIGTERM), ("auto", signal.SIGHUP)])
def test_a_signal_stops_the_experiment_and_records_the_run_cancelled(tmp_path, command, sig):
    ws = make_repo(tmp_path / "ws", {"task.toml": TASK, "train.py": TRAIN, ".gitignore": "hold-*\nresults.json\n"})
    (ws / BASELINE).touch()  # the run waits until it is stopped
    script = write_script(tmp_path / "script.jsonl")
    argv = COMMANDS[command] + (["--script", str(script)] if command == "auto" else [])
    proc = subprocess.Popen([sys.executable, "-m", "mlr_copilot.cli", *argv, "-w", str(ws)], env={**ENV, "MLR_RUNNER": "local"},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: any(r["status"] == "running" and r.get("sandbox") for r in runs(ws)), proc=proc, timeout=60)
        assert live_experiments(ws)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, out + err
    assert "Traceback" not in err
    assert [r["status"] for r in runs(ws)] == ["cancelled"]
    assert live_experiments(ws) == set()
    if command == "auto":
        assert read(ws / ".mlr" / "auto" / "state.json")["status"] == "cancelled"
        (ws / BASELINE).unlink()
        resumed = subprocess.run([sys.executable, "-m", "mlr_copilot.cli", "auto", "--resume", "-w", str(ws)], env=ENV,
                                 capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0 and "Status: done" in resumed.stdout, resumed.stdout + resumed.stderr[-2000:]


def test_sigterm_to_eval_stops_its_run_and_reports_what_was_done(tmp_path):
    from mlr_copilot.autonomous.demo import demo_files

    records = tmp_path / "review-sentiment" / "attempt-1" / ".mlr" / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "mlr_copilot.cli", "eval", "--tasks", "review-sentiment", "--runs", "2",
                             "--provider", "scripted", "--script", str(demo_files()[1]), "--offline", "--runner", "local",
                             "--workdir", str(tmp_path)], env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: any(r["status"] == "running" and r.get("sandbox") for r in runs(records.parent.parent)),
                          proc=proc, timeout=60)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143, out + err
    assert [r["status"] for r in runs(records.parent.parent)] == ["cancelled"]
    assert live_experiments(records.parent.parent) == set()
    assert not (tmp_path / "review-sentiment" / "attempt-2").exists(), "no attempt starts after the signal"
    assert read(tmp_path / "evaluation.json")["attempts"][0]["status"] == "cancelled"
