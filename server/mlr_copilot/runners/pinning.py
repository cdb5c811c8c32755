"""Where each failure of a run is shown: its own file and line when the runner found one, else
the script the command runs (`python train.py` → train.py), else the results file the run
should have written. A run-wide failure (no metric, a timeout, an OOM) has no location of its
own; pinning it here, once, lets the editor's diagnostics and the terminal's run output name
the same place."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Failure, RunRecord


@dataclass(frozen=True)
class Pin:
    """A workspace-relative POSIX path and a 1-based line."""

    path: str
    line: int


def command_file(command: str) -> str | None:
    """The script a command runs (`python train.py` → train.py), where run-wide failures land."""
    for word in command.split():
        if word.endswith(".py"):
            return word
    return None


def pin(record: RunRecord, failure: Failure, results_file: str) -> Pin:
    """Where `failure` of `record` is shown; `results_file` is the run settings' results file."""
    path = failure.path or command_file(record.command) or results_file
    return Pin(path=path, line=max(failure.line or 1, 1))
