"""The runner names are spelled once, in the registry: the setting, the records, the CLI and the
editor extension all take them from there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlr_copilot.config import validate_settings
from mlr_copilot.runners.base import RunnerError
from mlr_copilot.runners.model import RunRecord
from mlr_copilot.runners.registry import CHOICES, NAMES, RUNNERS, pick_runner, runner_class
from mlr_copilot.runners.supervise import Runner

ROOT = Path(__file__).resolve().parents[2]


def test_the_extension_offers_exactly_the_registered_runners():
    package = json.loads((ROOT / "client-vscode" / "package.json").read_text(encoding="utf-8"))
    runner = package["contributes"]["configuration"]["properties"]["mlrCopilot.run.runner"]
    assert runner["enum"] == list(CHOICES)
    assert runner["default"] == "auto"


def test_every_registered_runner_is_a_runner_class_named_as_registered():
    for entry in RUNNERS:
        cls = runner_class(entry.name)
        assert issubclass(cls, Runner) and cls.chosen(None).name == entry.name


def test_a_bad_runner_setting_falls_back_to_auto_with_one_clear_warning():
    settings, warnings = validate_settings({"run": {"runner": "kubernetes", "timeout": 5}})
    assert (settings.run.runner, settings.run.timeout) == ("auto", 5)
    assert warnings == ["setting 'run.runner' is invalid (Input should be 'auto', 'local', 'docker' or 'ray'); using the default"]


def test_a_record_names_a_registered_runner_never_auto():
    for name in NAMES:
        assert RunRecord(id="r1", command="x", runner=name, started_at="2024-01-01T00:00:00Z").runner == name
    for bad in ("auto", "kubernetes", 3):
        with pytest.raises(ValueError):
            RunRecord(id="r1", command="x", runner=bad, started_at="2024-01-01T00:00:00Z")


def test_an_unknown_runner_name_is_a_clear_error():
    with pytest.raises(RunnerError, match="unknown runner 'kubernetes'; use auto, local, docker or ray"):
        pick_runner("kubernetes")


def test_the_cli_offers_the_registered_runners():
    result = subprocess.run([sys.executable, "-m", "mlr_copilot.cli", "run", "--runner", "kubernetes"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "(choose from " + ", ".join(repr(name) for name in CHOICES) + ")" in result.stderr


def test_reading_the_names_loads_no_runner():
    probe = ("import sys; import mlr_copilot.config, mlr_copilot.runners.registry; "
             "print([m for m in sys.modules if m.startswith('mlr_copilot.runners.') or m == 'docker'])")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "['mlr_copilot.runners.registry']"
