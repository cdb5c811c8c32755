"""A task small enough to kill at every phase boundary: its runs take a fraction of a second,
the scripted LLM implements one change with a planted mistake and then fixes it, so one
session has a baseline, the ideas, two agent commits and three runs (passed, failed, passed).

A run holds (sleeps two minutes) while a file `hold-<mode>-<n>` names its version, so a test
can kill the session while that run is under way and see the orphan outlive its owner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from mlr_copilot.autonomous.demo import demo_files
from mlr_copilot.runners.proctree import marked_processes
from tests.gitutil import git

ENV = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("MLR_")}

TASK = textwrap.dedent('''
    name = "crash-probe"
    title = "Score a constant model"
    kind = "offline"
    description = "Raise the score that train.py writes to results.json."
    command = "python train.py"

    [metric]
    name = "score"
    direction = "maximize"
''').lstrip()

TRAIN = textwrap.dedent('''
    import json, os, time
    MODE = "base"
    SCORES = {"base": 0.5}
    if os.path.exists(f"hold-{MODE}-{len(SCORES)}"):
        time.sleep(120)
    time.sleep(0.1)
    with open("results.json", "w") as out:
        json.dump({"score": SCORES[MODE]}, out)
''').lstrip()

# (version of train.py) -> the hold file that makes its run wait
BASELINE, FAILING, FIXED = "hold-base-1", "hold-better-1", "hold-better-2"

STEP = ("SUMMARY: Score with the better mode\nWHY: The plan asks for it.\n\ntrain.py\n<<<<<<< SEARCH\nMODE = \"base\"\n"
        "=======\nMODE = \"better\"\n>>>>>>> REPLACE\n")
DONE = "DONE: the plan is implemented."
FIX = ("SUMMARY: Give the better mode its score\nWHY: SCORES has no entry for it, hence the KeyError.\n\ntrain.py\n"
       "<<<<<<< SEARCH\nSCORES = {\"base\": 0.5}\n=======\nSCORES = {\"base\": 0.5, \"better\": 0.8}\n>>>>>>> REPLACE\n")


def make_workspace(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "task.toml").write_text(TASK)
    (folder / "train.py").write_text(TRAIN)
    (folder / ".gitignore").write_text("hold-*\nresults.json\n")
    return folder


def write_script(path: Path, *, step_committed: bool = False, fix_committed: bool = False) -> Path:
    """The replies an LLM would give now: the ideas' (a resumed ideas phase asks again), the
    implementation step unless its change is committed, then DONE, and the fix unless it is
    committed. Records of the demo's ideas, without their checks of the demo paper's text."""
    records = []
    for line in demo_files()[1].read_text().splitlines():
        record = json.loads(line)
        if record["call"].startswith("ideas."):
            record.pop("expect", None)
            records.append(record)
    steps = ([] if step_committed else [STEP]) + [DONE]
    records += [{"call": "implement.step", "response": text} for text in steps]
    records += [] if fix_committed else [{"call": "debug.fix", "response": FIX}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def auto(workspace: Path, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mlr_copilot.cli", "auto", "-w", str(workspace), *args],
                            env=ENV, stdin=subprocess.DEVNULL, **popen)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlr_copilot.cli", *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def runs(workspace: Path) -> list[dict]:
    folder = workspace / ".mlr" / "runs"
    found = [read(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted((r for r in found if r), key=lambda r: r["started_at"])


def branches(workspace: Path) -> dict[str, str]:
    """Loose branch refs (a new repository packs none): name -> sha."""
    heads = workspace / ".git" / "refs" / "heads"
    found = {}
    for path in heads.rglob("*") if heads.is_dir() else []:
        if path.is_file() and not path.name.endswith(".lock"):
            found[path.relative_to(heads).as_posix()] = path.read_text().strip()
    return found


def agent_commits(workspace: Path) -> list[str]:
    """Every commit on any hypothesis branch with the agent's trailer."""
    names = [name for name in branches(workspace) if name.startswith("mlr/")]
    if not names:
        return []
    out = git(workspace, "log", "--format=%H%x00%(trailers:key=MLR-Hypothesis,valueonly)%x1e", *names, "--")
    return [entry.split("\0")[0].strip() for entry in out.split("\x1e") if entry.strip() and entry.split("\0")[1].strip()]


def live_experiments(workspace: Path) -> set[int]:
    return set().union(*(marked_processes(r["id"]) for r in runs(workspace))) if runs(workspace) else set()


def wait_until(condition, *, proc: subprocess.Popen | None = None, timeout: float = 60.0, every: float = 0.003) -> bool:
    """Poll `condition` every few ms; False when `proc` ended (or time ran out) first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return bool(condition())
        time.sleep(every)
    return False
