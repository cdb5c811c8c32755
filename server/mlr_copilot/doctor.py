"""`doctor`: what this machine and workspace offer, one finding per check, each saying whether
it is fine. Nothing here changes anything: it only asks (package metadata, git, the Docker
engine, the memory cgroup, the workspace's status, and, online with a key, the provider's models
endpoint). It imports the LLM layer and the run machinery, so the engine imports it only when
`doctor` is asked for."""

from __future__ import annotations

import asyncio
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata, util
from pathlib import Path

from pydantic import BaseModel

from . import __version__
from .config import Settings
from .llm.keys import key_status
from .llm.model_check import check_model
from .llm.providers import PROVIDERS
from .runners import DEFAULT_IMAGE
from .runners.docker import DockerUnavailableError, docker_client, image_exists
from .runners.proctree import cgroup_hierarchy
from .taskfile import TaskError, bundled_tasks_root, list_tasks
from .workspace import gitsafe

# the providers' SDKs come from their specs, so a new provider's SDK is checked without a line here
SDKS = tuple(dict.fromkeys(spec.sdk for spec in PROVIDERS.values() if spec.sdk))
PACKAGES = ("pygls", "lsprotocol", *SDKS, "docker", "pypdfium2", "gitpython", "huggingface_hub")
# seconds for the whole models-endpoint question: doctor answers even when the endpoint does not
MODEL_CHECK_TIMEOUT = 5.0


class Check(BaseModel):
    check: str
    finding: str
    ok: bool


def doctor(workspace: Path, settings: Settings, environ: Mapping[str, str], warnings: list[str], *,
           model_timeout: float = MODEL_CHECK_TIMEOUT) -> list[Check]:
    """The checks of this machine and `workspace`, with the settings' `warnings` last; the
    models endpoint is given `model_timeout` seconds in all."""
    checks = [Check(check="python", finding=f"{platform.python_version()} ({sys.executable})", ok=True),
              Check(check="mlr-copilot", finding=__version__, ok=True)]
    checks += _package_checks() + _task_packages() + [_git_check()] + _docker_checks(settings.run.image)
    checks.append(_local_memory_check())
    checks += _llm_checks(workspace, settings, environ, model_timeout)
    checks.append(_workspace_check(workspace))
    checks += [Check(check="warning", finding=warning, ok=False) for warning in warnings]
    return checks


def _package_checks() -> list[Check]:
    checks = []
    for package in PACKAGES:
        try:
            checks.append(Check(check=package, finding=metadata.version(package), ok=True))
        except metadata.PackageNotFoundError:
            checks.append(Check(check=package, finding="not installed", ok=False))
    return checks


def _git_check() -> Check:
    if not shutil.which("git"):
        return Check(check="git", finding="not found on PATH", ok=False)
    out = gitsafe.run(None, "--version", timeout=10)
    return Check(check="git", finding=out.stdout.decode(errors="replace").strip(), ok=out.returncode == 0)


def _llm_checks(workspace: Path, settings: Settings, environ: Mapping[str, str], model_timeout: float) -> list[Check]:
    llm = settings.llm
    checks = [Check(check="llm provider", finding=f"{llm.provider} (model {llm.resolved_model()})", ok=True)]
    if llm.provider == "scripted":
        script = llm.script and (workspace / llm.script)
        checks.append(Check(check="llm script", finding=str(script) if script else "not set (set MLR_SCRIPT or llm.script)",
                            ok=bool(script and script.is_file())))
        return checks
    variable, present = key_status(llm.provider, environ)
    if variable:
        checks.append(Check(check="api key", finding=f"{variable} {'is set' if present else 'is not set'}",
                            ok=present or llm.provider == "openai-compatible"))
    if present or PROVIDERS[llm.provider].key_optional:
        checks.append(_model_check(workspace, settings, environ, model_timeout))
    return checks


def _model_check(workspace: Path, settings: Settings, environ: Mapping[str, str], timeout: float) -> Check:
    """Whether the provider serves the configured model, asked only online (MLR_OFFLINE or
    ideas.online false say otherwise). One try within `timeout`: a retry loop would only make
    doctor slow to say the endpoint does not answer."""
    if not settings.ideas.online:
        return Check(check="llm model", finding=f"{settings.llm.resolved_model()}: not checked (offline mode)", ok=True)
    llm = settings.llm.model_copy(update={"timeout": timeout, "max_retries": 0})

    async def ask() -> Check:
        try:
            found = await asyncio.wait_for(check_model(llm, workspace=workspace, environ=environ), timeout)
        except asyncio.TimeoutError:
            where = llm.base_url or f"{llm.provider}'s API"
            return Check(check="llm model", ok=False,
                         finding=f"{llm.resolved_model()}: not checked, {where} did not answer within {timeout:g} s")
        return Check(check="llm model", finding=found.finding, ok=found.ok)

    return asyncio.run(ask())


def _task_packages() -> list[Check]:
    """Whether the packages the bundled offline tasks import are importable: the local runner
    runs them with this same Python, so a missing one fails the demo's baseline."""
    try:
        tasks = [task for task in list_tasks(bundled_tasks_root()) if task.kind == "offline"]
    except TaskError as exc:
        return [Check(check="offline tasks", finding=str(exc), ok=False)]
    needed: dict[str, list[str]] = {}
    for task in tasks:
        for package in task.requirements:
            needed.setdefault(_canonical(package), []).append(task.name)
    modules: dict[str, str] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            if not module.startswith("_"):
                modules.setdefault(_canonical(distribution), module)
    checks = []
    for package, users in sorted(needed.items()):
        importable = modules.get(package)
        ok = importable is not None and util.find_spec(importable) is not None
        finding = f"{metadata.version(package)}, importable as {importable}" if ok else f"not importable (pip install {package})"
        checks.append(Check(check=package, finding=f"{finding}; needed by the offline tasks {', '.join(users)}", ok=ok))
    return checks


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _docker_checks(image: str | None) -> list[Check]:
    """Whether an engine answers, and whether the image `run.runner = auto` wants is there
    (it is never pulled: without it, `auto` runs locally)."""
    try:
        client = docker_client(timeout=2)
    except DockerUnavailableError as exc:
        return [Check(check="docker engine", finding=f"{exc}; runs use the local runner", ok=False)]
    # importable only now that docker_client has found the SDK, which may not be installed
    from docker.errors import DockerException

    wanted = image or DEFAULT_IMAGE
    try:
        version = client.version().get("Version", "?")
        present = image_exists(client, wanted)
    except DockerException as exc:
        return [Check(check="docker engine", finding=f"answers, but failed: {exc}", ok=False)]
    finally:
        client.close()
    finding = (f"'{wanted}' is present: run.runner auto runs in Docker" if present else
               f"'{wanted}' is not on this machine (build it with scripts/build-base-image.sh): run.runner auto runs locally")
    return [Check(check="docker engine", finding=f"answers (engine {version})", ok=True),
            Check(check="docker image", finding=finding, ok=present)]


def _local_memory_check() -> Check:
    base = cgroup_hierarchy("memory")
    if base is None:
        return Check(check="local memory", ok=False,
                     finding="run.memoryMb holds per process only (no memory cgroup this process may create)")
    return Check(check="local memory", finding=f"run.memoryMb holds for a run's processes together (a cgroup under {base})",
                 ok=True)


def _workspace_check(root: Path) -> Check:
    finding, ok = _workspace_status(root)
    return Check(check="workspace", finding=finding, ok=ok)


def _workspace_status(root: Path) -> tuple[str, bool]:
    """The branch and the changes to tracked files (what makes the agent refuse to start);
    untracked files, such as the research/ views, are no change the agent minds."""
    if not root.is_dir():
        return f"{root} does not exist", False
    try:
        out = gitsafe.run(root, "status", "--porcelain=v2", "--branch", "--untracked-files=no", gitsafe.NO_SUBMODULES,
                          timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{root}: git did not answer ({exc})", False
    if out.returncode != 0:
        return f"{root} is not a git repository (implementation will offer to initialise one)", False
    lines = out.stdout.decode(errors="replace").splitlines()
    fields = dict(line[2:].split(" ", 1) for line in lines if line.startswith("# ") and " " in line[2:])
    branch = fields.get("branch.head", "?")
    where = ("a detached HEAD" if branch == "(detached)" else "no commit yet" if fields.get("branch.oid") == "(initial)"
             else f"branch {branch}")
    changed = sum(1 for line in lines if not line.startswith("#"))
    state = "no uncommitted change to tracked files" if changed == 0 else f"{changed} tracked file(s) with uncommitted changes"
    mlr = "has .mlr/ state" if (root / ".mlr").is_dir() else "no .mlr/ state yet"
    return f"{root}: {where}, {state}, {mlr}", True
