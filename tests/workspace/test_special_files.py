"""Only regular files are read: a FIFO (or socket, or device) named like source code or a
results file, in a workspace or written by an experiment, is skipped or named, never opened
for a read that would block forever."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mlr_copilot.experiment.edit_blocks import EditTargetError, WholeFile
from mlr_copilot.experiment.edits import apply_edits
from mlr_copilot.experiment.repomap import repo_map
from mlr_copilot.retrieval.code import search_code
from mlr_copilot.runners.metrics import metrics_from_file
from mlr_copilot.workspace.paths import read_regular
from tests.gitutil import git, make_repo

from ..experiment.test_agent import engine_for, implement, reply, tracked

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def finishes(fn, *args):
    """`fn(*args)`, failing (rather than hanging the suite) if it blocks: a guard, not a timing."""
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} blocked on a FIFO"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "ws", {"train.py": "EPOCHS = 3\n", "model.py": "def build():\n    return 1\n"})
    os.mkfifo(root / "x.py")
    return root


def test_read_regular_names_a_fifo_without_opening_it_for_a_blocking_read(workspace):
    assert finishes(read_regular, workspace / "x.py") is None
    assert finishes(read_regular, workspace / "train.py") == b"EPOCHS = 3\n"
    assert finishes(read_regular, workspace / "train.py", 3) == b"EPO"
    with pytest.raises(FileNotFoundError):
        read_regular(workspace / "missing.py")


def test_prototype_code_search_skips_a_fifo(workspace, tmp_path):
    result = finishes(lambda: search_code("build epochs", workspace=workspace, sources=[], cache_dir=tmp_path / "cache",
                                          k=5, online=False))
    assert {c.path for c in result.chunks} <= {"train.py", "model.py"} and result.chunks


def test_the_workspace_map_lists_no_fifo(workspace):
    assert [f.path for f in finishes(repo_map, workspace).files] == ["model.py", "train.py"]


def test_an_edit_of_a_fifo_is_refused(workspace):
    with pytest.raises(EditTargetError, match="x.py is not a regular file"):
        finishes(apply_edits, workspace, [WholeFile(path="x.py", content="print(1)\n")])


def test_a_fifo_as_the_results_file_is_named_not_read(workspace):
    os.mkfifo(workspace / "results.json")
    metrics, problem = finishes(metrics_from_file, workspace / "results.json")
    assert metrics == {} and problem == "results.json is not a regular file; it was not read"


def test_implement_with_a_fifo_in_the_workspace_completes(workspace):
    engine = engine_for(workspace, [
        reply("READ: x.py"),
        reply("SUMMARY: Write x\n\nx.py\n<<<<<<< FILE\nprint(1)\n>>>>>>> FILE\n", "## x.py\n(not a regular file: never read)"),
        reply("SUMMARY: Write x\n\nx.py\n<<<<<<< FILE\nprint(1)\n>>>>>>> FILE\n", "x.py is not a regular file"),
        reply("SUMMARY: Write x\n\nx.py\n<<<<<<< FILE\nprint(1)\n>>>>>>> FILE\n"),
        reply("DONE: gave up on x.py"),
    ])
    head = git(workspace, "rev-parse", "HEAD")
    before = tracked(workspace)
    state = finishes(implement, engine)
    assert state.status == "nothing-implemented" and [s.outcome for s in state.steps] == ["failed"]
    assert git(workspace, "rev-parse", "HEAD") == head and tracked(workspace) == before
    assert (workspace / "x.py").is_fifo()
