"""The bundled offline tasks take the seed the search's re-runs give (`--seed K`): without it
the baseline is unchanged (seed 0), and the model's seed, not the split, is what it changes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlr_copilot.taskfile import bundled_tasks_root, load_task


def metric(folder: Path, *args: str) -> float:
    done = subprocess.run([sys.executable, "train.py", *args], cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = re.findall(r"^METRIC \w+=(\S+)$", done.stdout, flags=re.M)
    return float(found[-1])


@pytest.mark.parametrize("name", ["diabetes-regression", "digits-classification"])
def test_a_bundled_task_takes_a_seed(tmp_path, name):
    task = load_task(bundled_tasks_root() / name)
    folder = tmp_path / name
    shutil.copytree(task.folder, folder)
    default, zero, other = metric(folder), metric(folder, "--seed", "0"), metric(folder, "--seed", "7")
    assert default == zero
    if name == "diabetes-regression":  # a decision tree's ties are broken by its seed
        assert other != zero
