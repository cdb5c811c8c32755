"""Sandboxed experiment runs: a local process tree or a Docker container, behind one
`Runner` interface (see `supervise`), registered by name in `registry`, and `execute()`
which turns a run into a `RunRecord`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import Failure, RunRecord, RunRequest
from .registry import pick_runner

if TYPE_CHECKING:
    from .base import RunnerError, RunOutcome
    from .supervise import Runner

DEFAULT_IMAGE = "mlr-python:bookworm"
# how long `auto` waits for a Docker engine to answer
PROBE_TIMEOUT_S = 1.0


def __getattr__(name: str) -> Any:
    # The run machinery (process trees, log sinks, secret scrubbing) loads on first use: reading
    # run records (history, compare) imports this package but runs nothing.
    if name in ("RunnerError", "RunOutcome"):
        from . import base

        return getattr(base, name)
    if name == "Runner":
        from . import supervise

        return supervise.Runner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_IMAGE", "Failure", "RunOutcome", "RunRecord", "RunRequest", "Runner", "RunnerError", "pick_runner"]
