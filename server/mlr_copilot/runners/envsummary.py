"""What `compare` reads of a run record besides its `RunSummary`: the branch, the image and the
whole environment it ran in (`RunEnvironment`), read without pydantic (`plain.py`) so that
`compare` starts within its 120 ms (bench/bench_startup.py); and where two environments
differ. `RunRecord` (runners/model.py) stays the record's definition: every field here is one
of its fields, of the same type (tests/history/test_compare.py holds them to it). The history
reads none of this: it reads the environment's node and runner only (`RunPlace`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, NamedTuple

from ..plain import EMPTY_DICT, EMPTY_LIST, from_json
from .registry import record_name

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
