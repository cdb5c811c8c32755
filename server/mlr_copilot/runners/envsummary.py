"""What `compare` reads of a run record besides its `RunSummary`: the branch, the image and the
whole environment it ran in (`RunEnvironment`), read without pydantic (`plain.py`) so that
`compare` starts within its 120 ms (bench/bench_startup.py); and where two environments
differ. `RunRecord` (runners/model.py) stays the record's definition: every field here is one
of its fields, of the same type (tests/history/test_compare.py holds them to it). The history
reads none of this: it reads the environment's node and runner only (`RunPlace`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..errors import MlrError
from ..plain import EMPTY_DICT, EMPTY_LIST, from_json
from .registry import record_name
from .summary import RUN_ID_PATTERN, record_path

if TYPE_CHECKING:
    from .model import RunEnvironment


class EnvironmentSummary(NamedTuple):
    """`RunEnvironment`, field for field (its required ones first, as a NamedTuple has them)."""

    runner: str
    node: str
    python: str | None = None
    packages: dict[str, str] = EMPTY_DICT
    image: str | None = None
    image_id: str | None = None
    gpus: list[str] = EMPTY_LIST


class RunSetup(NamedTuple):
    """Of a run record, what `compare` shows beyond its summary."""

    branch: str | None = None
    image: str | None = None
    environment: EnvironmentSummary | None = None


class EnvironmentChange(NamedTuple):
    what: str  # `python`, `image`, `node`, `gpus`, `package NAME`...
    a: str | None
    b: str | None


def read_setup(data: bytes) -> RunSetup:
    """A run record's file as its `RunSetup`; ValueError for one `RunRecord` would refuse."""
    setup = from_json(RunSetup, json.loads(data))
    if setup.environment is not None:
        record_name(setup.environment.runner)  # as `RunEnvironment` validates it
    return setup


def record_file(workspace: Path | str, run_id: str) -> Path:
    """The record file of run `run_id`; MlrError for an id that names no run (a path such as
    `../x` from a cloned workspace's state or a user's argument included)."""
    if not isinstance(run_id, str) or not re.fullmatch(RUN_ID_PATTERN, run_id):
        raise MlrError(f"{run_id!r} is not a run id (such as 20240101-120000-a1b2c3)")
    path = record_path(workspace, run_id)
    if not path.is_file():
        raise MlrError(f"no run '{run_id}' in {path.parent}")
    return path


def environment_diff(a: RunEnvironment | EnvironmentSummary | None,
                     b: RunEnvironment | EnvironmentSummary | None) -> list[EnvironmentChange]:
    """Where the environments of two runs differ, item by item (None: not recorded, or absent
    from that run, such as a package only one of them imports)."""
    if a is None and b is None:
        return []
    left = _env_items(a)
    right = _env_items(b)
    keys = list(dict.fromkeys([*left, *right]))
    return [EnvironmentChange(what=key, a=left.get(key), b=right.get(key))
            for key in keys if left.get(key) != right.get(key)]


def _env_items(env: RunEnvironment | EnvironmentSummary | None) -> dict[str, str]:
    if env is None:
        return {}
    items = {"python": env.python, "runner": env.runner, "node": env.node, "image": env.image,
             "image id": env.image_id, "gpus": ", ".join(env.gpus) or None}
    items.update((f"package {name}", version) for name, version in sorted(env.packages.items(), key=lambda kv: kv[0].lower()))
    return {key: value for key, value in items.items() if value is not None}
