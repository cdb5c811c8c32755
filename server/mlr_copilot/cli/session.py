"""What every command over a workspace shares: the settings its flags give, the engine over
them, its coroutine run with signals turned into cancellation, and the runs a killed process
left behind closed first."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import MlrError
from .output import say

if TYPE_CHECKING:
    from ..engine import Engine
    from ..work import Work

T = TypeVar("T")
# signal.SIGINT, whose module only the commands that do work import
SIGINT = 2

# setting key -> the flag (argparse `dest`) that gives it, in each settings section
_LLM_FLAGS = {"provider": "provider", "model": "model", "base_url": "base_url", "script": "script",
              "budget_usd": "budget"}
_RUN_FLAGS = {"runner": "runner", "timeout": "timeout", "command": "run_command", "metric": "metric",
              "direction": "direction", "parallel": "parallel"}


def _given(args: argparse.Namespace, flags: dict[str, str]) -> dict[str, Any]:
    values = {key: getattr(args, flag, None) for key, flag in flags.items()}
    return {key: value for key, value in values.items() if value is not None}


def settings_layer(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line, over the environment and `.env`."""
    llm = _given(args, _LLM_FLAGS)
    if "script" in llm:
        llm["script"] = str(Path(llm["script"]).resolve())
    run = _given(args, _RUN_FLAGS)
    if run.get("parallel", 1) < 1:
        raise MlrError(f"--parallel counts what runs at once, one slot each: give 1 or more, not {run['parallel']}")
    layer: dict[str, Any] = {}
    if llm:
        layer["llm"] = llm
    if run:
        layer["run"] = run
    if getattr(args, "offline", False):
        layer["ideas"] = {"online": False}
    return layer


def engine_for(args: argparse.Namespace, layer: dict[str, Any] | None = None, *, lazy: bool = False) -> Engine:
    """`lazy`: the settings validated at their first read, for the commands that read few or
    none (`Engine.load`), their warnings said then."""
    from ..engine import Engine  # the engine (pydantic, settings) only for commands that use it

    def warn(warning: str) -> None:
        say(f"warning: {warning}", err=True)

    engine = Engine.load(Path(args.workspace), settings_layer(args) if layer is None else layer,
                         on_warning=warn if lazy else None)
    for warning in engine.warnings:
        warn(warning)
    return engine


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # an event loop only for the commands that do LLM or experiment work

    return asyncio.run(coro)


class Interrupted(Exception):
    """Work stopped by a signal before it had anything to report; exit code 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def run_cancellable(work: Work, coro: Coroutine[Any, Any, T]) -> tuple[T, int | None]:
    """`run_async`, with Ctrl-C, SIGTERM (a service manager, `kill`) and SIGHUP (the terminal
    closed) setting `work.cancel`: a run then stops its process tree or container and is
    recorded as cancelled, where the signal alone would end this process and leave the
    experiment running, or leave asyncio waiting for the run's thread. A second signal
    interrupts at once. Returns the result and the signal that cancelled it, if one did."""
    import signal  # as `Cancelled`: only the commands that do work install handlers

    from ..work import Cancelled  # dataclasses: not on the path of `--help`

    received: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if work.cancel.is_set():
            raise KeyboardInterrupt
        received.append(signum)
        try:
            print(f"{signal.Signals(signum).name}: cancelling (Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
        except OSError:  # SIGHUP: the terminal may be gone
            pass
        work.cancel.set()

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return run_async(coro), (received[0] if received else None)
    except Cancelled:
        # cancelled before the run began: nothing to report but the interrupt
        raise Interrupted(received[0] if received else signal.SIGINT) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cancelled_exit(signum: int | None) -> int:
    """The shell's code for a process ended by `signum`: 130 for Ctrl-C, 143 SIGTERM, 129 SIGHUP."""
    return 128 + (signum or SIGINT)


def close_interrupted_runs(engine: Engine, runner: str | None) -> None:
    """Close the runs that processes killed mid-run left behind, stopping their process trees
    and containers (as the server does when it starts): every command that starts work does
    this first, so no orphaned experiment runs beside a new one. Runs of live processes are
    left alone. A local caller leaves the Docker engine alone unless one of those runs was a
    Docker run."""
    from ..runners.execute import mark_interrupted  # the run machinery: process trees, containers

    local = (runner or engine.settings.run.runner) == "local"
    for record in mark_interrupted(engine.workspace, containers=not local):
        print(f"warning: run {record.id} was interrupted when the process running it stopped; it is marked interrupted",
              file=sys.stderr)
