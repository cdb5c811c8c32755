"""A download task readied once for an evaluation: its `prepare` runs in a copy, and the attempts
start from that copy's data."""

import pytest

from mlr_copilot.autonomous.bundled import UnpreparedError, copy_task, prepare_task
from mlr_copilot.taskfile import load_task

TASK = """
name = "fetched"
title = "A task whose data is fetched"
kind = "download"
description = "Predict things from fetched rows."
command = "python train.py"
prepare = "python prepare.py"

[metric]
name = "accuracy"
direction = "maximize"
"""

# Records whether it ran offline, and joins rows the user put in data/ by hand with fetched ones.
PREPARE = """
import os, sys
from pathlib import Path
if os.environ.get("FAIL"):
    print("fetching...", file=sys.stderr)
    print("prepare.py: cannot reach the Hub; put the files in data/", file=sys.stderr)
    sys.exit(1)
data = Path("data")
manual = (data / "manual.csv").read_text() if (data / "manual.csv").is_file() else ""
(data / "rows.csv").write_text(manual + "fetched " + os.environ.get("HF_HUB_OFFLINE", "online") + "\\n")
"""


@pytest.fixture
def task(tmp_path):
    folder = tmp_path / "bundled"
    (folder / "data").mkdir(parents=True)
    (folder / "task.toml").write_text(TASK)
    (folder / "prepare.py").write_text(PREPARE)
    (folder / "train.py").write_text("print('METRIC accuracy=0.5')\n")
    (folder / "data" / "manual.csv").write_text("by hand\n")
    return load_task(folder)


def test_prepare_runs_once_in_a_copy_and_attempts_share_its_data(task, tmp_path):
    prepared = prepare_task(task, tmp_path / "prepared", online=False, timeout=60)
    assert prepared.folder == (tmp_path / "prepared").resolve()
    assert (prepared.folder / "data" / "rows.csv").read_text() == "by hand\nfetched 1\n"
    assert not (task.folder / "data" / "rows.csv").exists()  # the bundled folder is left alone

    attempt = copy_task(prepared, tmp_path / "attempt-1", with_data=True)
    rows = attempt / "data" / "rows.csv"
    assert rows.read_text() == "by hand\nfetched 1\n"
    assert rows.stat().st_ino == (prepared.folder / "data" / "rows.csv").stat().st_ino  # linked, not copied
    assert not (copy_task(prepared, tmp_path / "plain") / "data").exists()


def test_a_failing_prepare_says_why_in_the_commands_own_words(task, tmp_path, monkeypatch):
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(UnpreparedError) as caught:
        prepare_task(task, tmp_path / "prepared", online=True, timeout=60)
    message = str(caught.value)
    assert message.startswith("`python prepare.py` failed in ")
    assert message.endswith("prepare.py: cannot reach the Hub; put the files in data/")
    assert "fetching" not in message


def test_prepare_online_leaves_the_hub_reachable(task, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    prepared = prepare_task(task, tmp_path / "prepared", online=True, timeout=60)
    assert (prepared.folder / "data" / "rows.csv").read_text().endswith("fetched online\n")
