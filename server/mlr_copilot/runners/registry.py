"""The runners by name: the one list that the `run.runner` setting, the run records, the CLI's
`--runner` choices and the editor extension's enum (checked by a test) are read from.

A runner is registered as "module:Class" and imported only when a run needs it: reading the
names costs nothing, so settings and the light commands never load the docker SDK or the run
machinery. To add a runner, write its module (a `Runner` subclass, see `supervise`) and add
one line to `RUNNERS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple

from ..choices import listed, one_of

if TYPE_CHECKING:
    from .supervise import Runner


class Registration(NamedTuple):
    # a tuple, not a dataclass: `dataclasses` (inspect, ast) would cost every `--help`
    name: str
    target: str  # "module:Class", the module relative to this package
    # when `auto` asks it, lowest first (the last one asked must always accept); None: never
    auto_rank: int | None = None


RUNNERS = (
    Registration("local", "local:LocalRunner", auto_rank=99),
    Registration("docker", "docker:DockerRunner", auto_rank=0),
    Registration("ray", "ray_runner:RayRunner"),
)
AUTO = "auto"
NAMES = tuple(entry.name for entry in RUNNERS)
# what the `run.runner` setting and the CLI's --runner accept
CHOICES = (AUTO, *NAMES)


def setting_name(value: object) -> str:
    """Validates a `run.runner` setting, before pydantic's own checks (a bad value falls back
    to `auto` with a one-line warning, see config)."""
    return one_of(value, CHOICES)


def record_name(value: object) -> str:
    """Validates the runner a run record names (never `auto`: a record says what ran it)."""
    return one_of(value, NAMES)


def runner_class(name: str) -> type[Runner]:
    """The class registered as `name`, imported now."""
    for entry in RUNNERS:
        if entry.name == name:
            module_name, _, class_name = entry.target.partition(":")
            module = importlib.import_module(f"{__package__}.{module_name}")
            runner: type[Runner] = getattr(module, class_name)
            return runner
    from .base import RunnerError  # the run machinery, loaded only to report a bad name

    raise RunnerError(f"unknown runner '{name}'; use {listed(CHOICES)}")


def registered_name(cls: type[Runner]) -> str:
    """The name `cls` is registered by."""
    target = f"{cls.__module__.removeprefix(f'{__package__}.')}:{cls.__qualname__}"
    for entry in RUNNERS:
        if entry.target == target:
            return entry.name
    raise LookupError(f"runner class {target} is not registered in {__name__}.RUNNERS")


def pick_runner(name: str = AUTO, image: str | None = None) -> Runner:
    """The runner for the `run.runner` setting; its `reason` says why it was chosen.

    "auto" asks the runners by their `auto_rank` whether it can run here now (Docker:
    an engine answers within about a second and the configured image is already on this
    machine, since images are never pulled); the first that can is taken, and it is told why
    those before it could not."""
    if name != AUTO:
        return runner_class(name).chosen(image)
    declined: list[str] = []
    asked = sorted((entry for entry in RUNNERS if entry.auto_rank is not None), key=lambda entry: entry.auto_rank or 0)
    for entry in asked:
        answer = runner_class(entry.name).for_auto(image, declined)
        if not isinstance(answer, str):
            return answer
        declined.append(answer)
    raise AssertionError("the last runner `auto` tries always accepts")
