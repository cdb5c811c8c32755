"""What a run ran on (`RunEnvironment`), read after it ends at a small cost per run.

- The modules the experiment imports are read on the host from the workspace's `.py` files
  with `ast` (bounded: files, bytes, time), less the standard library and the workspace's own
  modules; the distributions a `requirements.txt` names are added.
- Their versions come from the interpreter that ran the experiment (`env_probe`): this process
  when the command's Python is this one, else that Python in a subprocess; for Docker the image
  is probed once per image id and the answer cached (see `DockerRunner.python_environment`).
- GPUs from `nvidia-smi` when it exists (a Docker run sees them only with `run.gpus`).
- The machine (`node`): this one's host name, or the host the runner reports it ran on (a Ray
  worker's, `RunOutcome.node`).
Whatever cannot be read is left out: recording the environment never fails a run.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from .. import pyast
from ..state import user_cache_dir, write_json
from .environment import scrub_env
from .model import RunEnvironment, RunRequest

if TYPE_CHECKING:
    from .supervise import Runner

MAX_FILES = 400
MAX_FILE_BYTES = 512 * 1024
SCAN_BUDGET_S = 0.2
MAX_MODULES = 200
PROBE_TIMEOUT_S = 10.0
MAX_PROBE_BYTES = 8 << 20
SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "env", "data", "build", "dist"}
PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?")
REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]{0,99})")
PROBE = Path(__file__).with_name("env_probe.py")
_PROBED: dict[str, ProbeReport] = {}


class ProbeReport(BaseModel):
    """What `env_probe` printed; it ran in the experiment's environment, so it is checked."""

    model_config = ConfigDict(extra="ignore")

    python: str | None = Field(default=None, max_length=64)
    packages: dict[str, str] = Field(default_factory=dict, max_length=5000)
    modules: dict[str, str] = Field(default_factory=dict, max_length=100_000)

    def for_modules(self, names: list[str]) -> dict[str, str]:
        """The versions of the distributions that provide `names` (modules or distributions)."""
        from .env_probe import canonical

        wanted = {self.modules.get(name) or canonical(name) for name in names}
        return {dist: version[:64] for dist, version in self.packages.items() if dist in wanted}


def _python_files(workspace: Path, deadline: float) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(workspace):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(folder, name)
            if name.endswith(".py") and not path.is_symlink() and path.is_file():
                found.append(path)
        if len(found) >= MAX_FILES or time.monotonic() > deadline:
            break
    return found[:MAX_FILES]


def imported_modules(workspace: Path) -> list[str]:
    """Top-level modules the workspace's Python files import that are neither the standard
    library's nor the workspace's own. Bounded in files, bytes and time: a workspace with a
    million files or a pathological one costs a run no more than `SCAN_BUDGET_S`."""
    own = {path.stem for path in workspace.glob("*.py")} | {path.name for path in workspace.iterdir() if path.is_dir()}
    names: set[str] = set()
    deadline = time.monotonic() + SCAN_BUDGET_S
    for path in _python_files(workspace, deadline):
        if time.monotonic() > deadline or len(names) >= MAX_MODULES:
            break
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            tree = pyast.parse(path.read_bytes(), str(path))
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return sorted(names - own - set(sys.stdlib_module_names) - {"__future__"})[:MAX_MODULES]


def requirement_names(workspace: Path) -> list[str]:
    """The distributions `requirements.txt` names (options, URLs and comments skipped)."""
    path = workspace / "requirements.txt"
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return []
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    names = [REQUIREMENT.match(line) for line in lines if not line.lstrip().startswith(("#", "-")) and "://" not in line]
    return [match.group(1) for match in names if match][:MAX_MODULES]


def python_named(argv: list[str]) -> str | None:
    """The interpreter a command names (`python`, `python3.11`, a path to one), if any."""
    return argv[0] if argv and PYTHON_NAME.fullmatch(Path(argv[0]).name) else None


def local_python_environment(request: RunRequest, names: list[str]) -> ProbeReport:
    """Versions as the local run's interpreter sees them: this process when the command's
    Python is this one's (or the command names none), else that Python, asked in a subprocess."""
    from . import env_probe

    named = python_named(request.argv())
    interpreter = named and shutil.which(named, path=request.env.get("PATH", os.environ.get("PATH")))
    if not interpreter or os.path.realpath(interpreter) == os.path.realpath(sys.executable):
        return ProbeReport.model_validate(env_probe.describe(names, outside=Path(request.workspace).resolve()))
    env = scrub_env({**os.environ, **request.env})
    return parse_probe(bounded_output([interpreter, "-I", str(PROBE), *names], cwd=request.workspace, env=env))


def bounded_output(argv: list[str], **popen: Any) -> bytes:
    """The last `MAX_PROBE_BYTES` of what `argv` prints to stdout within `PROBE_TIMEOUT_S`. The
    command is the experiment's interpreter, so it is held like one: its whole process group is
    killed at the deadline (a child left holding the pipe would otherwise block the read), and
    its output goes to a file, never wholly into memory."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                start_new_session=True, **popen)
        try:
            code = proc.wait(timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise subprocess.SubprocessError(f"{Path(argv[0]).name} did not answer within {PROBE_TIMEOUT_S:g} s") from None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        if code != 0:
            raise subprocess.SubprocessError(f"{Path(argv[0]).name} exited with code {code}")
        out.seek(max(0, out.seek(0, os.SEEK_END) - MAX_PROBE_BYTES))
        return out.read()


def parse_probe(output: bytes) -> ProbeReport:
    lines = output.decode("utf-8", errors="replace").strip().splitlines()
    return ProbeReport.model_validate(json.loads(lines[-1])) if lines else ProbeReport()


def cached_probe(key: str, probe: Callable[[], ProbeReport]) -> ProbeReport:
    """`probe()`'s answer for `key` (an image id and interpreter), kept in this process and in
    the user's cache (never the workspace's `.mlr/`, which a cloned workspace could plant)."""
    if key in _PROBED:
        return _PROBED[key]
    path = user_cache_dir("environments") / f"{key}.json"
    try:
        report = ProbeReport.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        report = probe()
        write_json(path, report.model_dump())
    _PROBED[key] = report
    return report


@functools.lru_cache(maxsize=1)
def host_gpus() -> tuple[str, ...]:
    """One model name per GPU `nvidia-smi` lists; none without it or when it fails."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return ()
    try:
        output = bounded_output([tool, "--query-gpu=name", "--format=csv,noheader"])
    except (OSError, subprocess.SubprocessError):
        return ()
    lines = output.decode("utf-8", errors="replace").splitlines()
    return tuple(line.strip()[:120] for line in lines if line.strip())[:64]


def capture(runner: Runner, request: RunRequest, image: str | None, node: str | None = None) -> RunEnvironment:
    """The environment of a run that just ended with `runner` (in image `image` for Docker),
    on the machine `node` names (a Ray worker's host; default: this machine)."""
    workspace = Path(request.workspace)
    names = sorted({*imported_modules(workspace), *requirement_names(workspace)})
    report, image_id = runner.python_environment(request, image, names)
    sees_gpus = runner.sees_host_gpus(request)
    return RunEnvironment(
        python=report.python, packages=report.for_modules(names), runner=runner.name, node=node or socket.gethostname(),
        image=image, image_id=image_id, gpus=list(host_gpus()) if sees_gpus else [],
    )
