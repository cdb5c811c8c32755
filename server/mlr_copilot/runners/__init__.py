"""Sandboxed experiment runs: a local process tree or a Docker container, behind one
`Runner` interface (see `supervise`), registered by name in `registry`, and `execute()`
which turns a run into a `RunRecord`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import RunnerError, RunOutcome
    from .model import Failure, RunRecord, RunRequest
    from .registry import pick_runner
    from .supervise import Runner

DEFAULT_IMAGE = "mlr-python:bookworm"
# how long `auto` waits for a Docker engine to answer
PROBE_TIMEOUT_S = 1.0

# Everything loads on first use: the CLI's help reads the runner names (`registry`) without
# pydantic, and reading run records (history, compare) needs no run machinery (process
# trees, log sinks, secret scrubbing).
_HOMES = {"Failure": "model", "RunRecord": "model", "RunRequest": "model", "pick_runner": "registry",
          "RunnerError": "base", "RunOutcome": "base", "Runner": "supervise"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_IMAGE", "Failure", "RunOutcome", "RunRecord", "RunRequest", "Runner", "RunnerError", "pick_runner"]
