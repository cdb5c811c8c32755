"""Print, as one JSON line, the Python version and the installed distributions that provide the
top-level modules named on the command line: `python -I env_probe.py sklearn numpy ...`.

Run by the interpreter that runs the experiments (in-process when that is this one, in a
subprocess when the command names another, in a container of the image for Docker), so the
versions are the ones the experiment imported. Standard library only. Names are matched to
distributions by the distribution's own name first (`numpy`), then by `top_level.txt`, then by
the top-level entries of its RECORD, which is the slow part and read only for names still
unmatched. `--all` maps every distribution (done once per Docker image, then cached). Python
3.8 or later (importlib.metadata), so its annotations are never evaluated.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from importlib.metadata import Distribution


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _tops(dist: Distribution, way: Literal["top_level", "record"]) -> set[str]:
    """The top-level modules `dist` provides, as its `top_level.txt` or its RECORD lists them."""
    if way == "top_level":
        return set((dist.read_text("top_level.txt") or "").split())
    tops = set()
    for line in (dist.read_text("RECORD") or "").splitlines():
        top = line.split(",", 1)[0].split("/", 1)[0]
        tops.add(top[:-3] if top.endswith(".py") else top)
    return tops


def _folder_name(dist: Distribution) -> str:
    folder = getattr(dist, "_path", None)
    return canonical(folder.name.split("-", 1)[0]) if folder is not None else ""


def _under(dist: Distribution, folder: Path | None) -> bool:
    path = getattr(dist, "_path", None)
    return folder is not None and path is not None and str(path.resolve()).startswith(str(folder) + "/")


def _modules_of(left: set[str], dists: list[Distribution]) -> dict[str, Distribution]:
    """{module: distribution} for the modules `left`, reading as little metadata as it can."""
    modules: dict[str, Distribution] = {}
    for way in ("name", "top_level", "record"):
        for dist in dists:
            if not left:
                return modules
            if way == "name":
                hits = {n for n in left if canonical(n) == _folder_name(dist)}
            else:
                hits = left & _tops(dist, "top_level" if way == "top_level" else "record")
            for module in hits:
                modules.setdefault(module, dist)
            left -= hits
    return modules


def _all_modules(dists: list[Distribution]) -> dict[str, Distribution]:
    """{module: distribution} for every module installed; where two distributions ship one
    module (mlflow and mlflow-skinny), the one named like it wins, as in `_modules_of`."""
    tops = [(dist, _tops(dist, "top_level") | _tops(dist, "record")) for dist in dists]
    modules: dict[str, Distribution] = {}
    for dist, names in tops:
        for module in names:
            if canonical(module) == _folder_name(dist):
                modules[module] = dist
    for dist, names in tops:
        for module in names:
            modules.setdefault(module, dist)
    return modules


def describe(names: Iterable[str], everything: bool = False, outside: Path | None = None) -> dict[str, Any]:
    """{"python": "3.11.2", "packages": {distribution: version}, "modules": {module: distribution}}
    for `names` (every module of every distribution when `everything`), ignoring distributions
    under the folder `outside` (a workspace on this process's path is not installed code)."""
    from importlib import metadata

    dists = [dist for dist in metadata.distributions() if not _under(dist, outside)]
    modules = _all_modules(dists) if everything else _modules_of(set(names), dists)
    packages: dict[str, str] = {}
    named: dict[str, str] = {}
    names_of: dict[int, str] = {}  # reading a distribution's metadata parses a file: once per distribution
    for module, dist in modules.items():
        if id(dist) not in names_of:
            names_of[id(dist)] = canonical(dist.metadata["Name"] or _folder_name(dist))
            packages[names_of[id(dist)]] = dist.version
        named[module] = names_of[id(dist)]
    return {"python": platform.python_version(), "packages": packages, "modules": named}


if __name__ == "__main__":
    args = sys.argv[1:]
    everything = "--all" in args
    print(json.dumps(describe([a for a in args if a != "--all"], everything)))
