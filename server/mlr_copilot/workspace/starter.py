"""A folder made a repository for the agent (`GitWorkspace.ensure_repo(init=True)`): the
existing files become the "Starter code" commit, but large files and secrets files are listed
in `.git/info/exclude` instead, so datasets and checkpoints never bloat the user's history and
no key is ever committed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import git

from mlr_copilot.state import StateDir
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.errors import NotARepositoryError, list_paths
from mlr_copilot.workspace.paths import is_secret_name

log = logging.getLogger(__name__)

STARTER_MESSAGE = "Starter code"
# Files this large are kept out of the starter commit (listed in .git/info/exclude) so
# datasets and checkpoints never bloat the user's history.
STARTER_MAX_FILE_BYTES = 20 * 1024 * 1024


def inside_other_repo(root: Path) -> bool:
    try:
        git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    return True


def init_repository(root: Path) -> None:
    """`git init` in `root`, on branch main unless the user configured another default."""
    if not root.is_dir():
        raise NotARepositoryError(f"{root} is not a folder")
    try:
        configured = git.Git(str(root)).execute(gitsafe.command("config", "--get", "init.defaultBranch"),
                                                env=gitsafe.environment(None))
    except git.CommandError:
        configured = ""
    args = gitsafe.command("init", "-q", *([] if configured else ["--initial-branch=main"]))
    try:
        git.Git(str(root)).execute(args, env=gitsafe.environment(None))
    except git.CommandError as exc:
        raise NotARepositoryError(f"could not initialise a git repository in {root}: {exc.stderr}") from None
    StateDir(root).ensure()
    log.info("initialised a git repository in %s", root)


def exclusions(root: Path, untracked: list[str]) -> list[tuple[str, list[str]]]:
    """(why, paths) of the `untracked` files (relative to `root`) to keep out of the starter
    commit: large files, and secrets files or the folders named like one."""
    large, secret = [], []
    for rel in untracked:
        parts = rel.split("/")
        hit = next((n for n, part in enumerate(parts, start=1) if is_secret_name(part)), None)
        if hit is not None:
            # a folder named like one (a virtualenv called `.env`) is excluded as a whole
            secret.append("/".join(parts[:hit]) + ("/" if hit < len(parts) else ""))
            continue
        try:
            if (root / rel).lstat().st_size > STARTER_MAX_FILE_BYTES:
                large.append(rel)
        except OSError:
            continue
    secret = list(dict.fromkeys(secret))
    return [(why, rels) for why, rels in (("large files", large), ("secrets files", secret)) if rels]


def append_exclusions(exclude: Path, sections: list[tuple[str, list[str]]]) -> None:
    """Add each section's paths to the exclude file as literal, anchored patterns."""
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as handle:
        for why, rels in sections:
            handle.write(f"\n# {why} kept out of the starter commit by MLR-Copilot\n")
            for rel in rels:
                handle.write("/" + re.sub(r"([\\*?\[\]!#])", r"\\\1", rel) + "\n")
            log.warning("kept %d %s out of the starter commit: %s", len(rels), why, list_paths(rels))
