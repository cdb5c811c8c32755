"""Docker images of runs: the tag of a workspace's own Dockerfile (a hash of everything the build
reads), its build (never pulling, never sending the workspace's secrets files), and the probe of
an image's Python, run in a container as closed as a run's."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from ..workspace.paths import is_secret_name
from .docker_engine import (
    LABEL,
    OWNER_LABEL,
    ImageBuildError,
    ImageNotFoundError,
    image_exists,
    owner_label,
)
from .logsink import LogSink
from .provenance import MAX_PROBE_BYTES

SKIP_DIRS = {".git", ".mlr"}
# What decides the image a later run builds; read-only in the container, like SKIP_DIRS.
BUILD_INPUTS = ("Dockerfile", ".dockerignore")
IMAGE_PROBE_TIMEOUT_S = 30


def _dockerfile_sources(text: str) -> list[str]:
    """Source paths of the COPY/ADD instructions that read from the build context."""
    sources: list[str] = []
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        words = line.strip().split()
        if len(words) < 3 or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        if args and args[0].startswith("["):
            continue
        sources.extend(args[:-1])
    return sources


def _walk_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found.extend(Path(folder, name) for name in sorted(files))
    return found


def workspace_image_tag(workspace: Path) -> str | None:
    """`mlr-ws-<hash>` for a workspace with a Dockerfile: the hash covers the Dockerfile,
    .dockerignore and every context file its COPY/ADD instructions read."""
    dockerfile = workspace / "Dockerfile"
    if not dockerfile.is_file():
        return None
    text = dockerfile.read_text(encoding="utf-8", errors="replace")
    digest = hashlib.sha256(dockerfile.read_bytes())
    ignore = workspace / ".dockerignore"
    if ignore.is_file():
        digest.update(b"\0.dockerignore\0" + ignore.read_bytes())
    files: set[Path] = set()
    for source in _dockerfile_sources(text):
        for match in workspace.glob(source.lstrip("/")) if source not in (".", "./") else [workspace]:
            files.update(_walk_files(match))
    for path in sorted(files):
        # secrets files and git's never reach the build (`build_workspace_image` leaves them
        # out), and a run's worktree holds empty stand-ins for the former and a `.git` file:
        # none of them changes the image
        parts = path.relative_to(workspace).parts
        if not path.is_file() or any(is_secret_name(part) or part in SKIP_DIRS for part in parts):
            continue
        digest.update(b"\0" + path.relative_to(workspace).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"mlr-ws-{digest.hexdigest()[:12]}"


def _base_images(text: str) -> list[str]:
    stages: set[str] = set()
    bases = []
    for line in text.splitlines():
        words = line.strip().split()
        if len(words) >= 2 and words[0].upper() == "FROM":
            args = [w for w in words[1:] if not w.startswith("--")]
            if not args:
                continue
            if args[0].lower() != "scratch" and args[0] not in stages and "$" not in args[0]:
                bases.append(args[0])
            if len(args) >= 3 and args[1].upper() == "AS":
                stages.add(args[2])
    return bases


def _build_context(workspace: Path, secrets: list[Path]) -> Any:
    """The build context as `docker build` sends it (the workspace, less what its .dockerignore
    names), less the secrets files `secrets`, `.git` and `.mlr`: a `COPY . .` would otherwise bake
    the user's keys into an image that every container made from it can read."""
    from docker.api.build import process_dockerfile
    from docker.utils.build import tar

    ignore = workspace / ".dockerignore"
    lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines() if ignore.is_file() else []
    # later patterns win, so nothing the .dockerignore says brings these back
    patterns = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    patterns += sorted(SKIP_DIRS) + [path.relative_to(workspace).as_posix() for path in secrets]
    return tar(str(workspace), exclude=patterns, dockerfile=process_dockerfile("Dockerfile", str(workspace)))


def build_workspace_image(client: Any, workspace: Path, tag: str, secrets: list[Path], sink: LogSink | None = None) -> str:
    """Build the workspace's Dockerfile as `tag` unless that tag exists; never pulls, never sends
    the workspace's secrets files."""
    if image_exists(client, tag):
        return tag
    for base in _base_images((workspace / "Dockerfile").read_text(encoding="utf-8", errors="replace")):
        if not image_exists(client, base):
            raise ImageNotFoundError(base)
    if sink is not None:
        sink.note(f"building the workspace Dockerfile as {tag}")
    error = None
    context = _build_context(workspace, secrets)
    try:
        for chunk in client.api.build(
            fileobj=context, custom_context=True, dockerfile="Dockerfile", tag=tag, rm=True, forcerm=True, pull=False,
            decode=True, network_mode="host",
        ):
            if "stream" in chunk and sink is not None:
                sink.feed(chunk["stream"].encode("utf-8", errors="replace"))
            if "error" in chunk:
                error = chunk["error"].strip()
    finally:
        context.close()
    if error or not image_exists(client, tag):
        raise ImageBuildError(f"building {workspace / 'Dockerfile'} failed: {error or 'no image was produced'}")
    return tag


def probe_image(client: Any, image_id: str, interpreter: str) -> bytes:
    """What `env_probe.py --all` prints in a container of `image_id`, run by `interpreter`."""
    from docker.types import LogConfig, Mount

    probe = "/opt/mlr-copilot/env_probe.py"
    container = client.containers.create(
        image_id, entrypoint=[interpreter], command=["-I", probe, "--all"], user="65534:65534", network_mode="none",
        mem_limit="512m", memswap_limit="512m", nano_cpus=int(1e9), pids_limit=64, cap_drop=["ALL"],
        security_opt=["no-new-privileges"], working_dir="/",
        mounts=[Mount(target=probe, source=str(Path(__file__).with_name("env_probe.py")), type="bind", read_only=True)],
        # the image may be a workspace Dockerfile's: what it prints is bounded like a run's
        log_config=LogConfig(type="json-file", config={"max-size": str(MAX_PROBE_BYTES), "max-file": "1"}),
        labels={LABEL: "1", OWNER_LABEL: owner_label()}, detach=True,
    )
    try:
        container.start()
        container.wait(timeout=IMAGE_PROBE_TIMEOUT_S)
        logs: bytes = container.logs(stdout=True, stderr=False)
        return logs[-MAX_PROBE_BYTES:]
    finally:
        container.remove(force=True)
