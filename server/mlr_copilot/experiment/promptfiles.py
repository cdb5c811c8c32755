"""What a change prompt (implement step, fix, improve) shows of the workspace, laid out for a
provider's prefix cache.

Every such prompt opens with the same system part, the workspace's main files as the baseline
commit has them (`baseline_text`) and the task (`task_text`): the same bytes for every step of
every draft, for every fix and every improvement of one search, so a provider serves them from
its cache. The
files as they are now, where a step changed them or the agent asked to read them, come later
in the prompt (`files_text`), in an order that only ever grows at its end.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ..errors import MlrError
from ..taskfile import TaskError, load_task
from ..workspace.gitsafe import run_text
from ..workspace.paths import read_regular, safe_path

# The files an experiment's code usually starts from, in the order every prompt shows them.
STARTER_FILES = ("train.py", "main.py", "run.py", "evaluate.py", "model.py")
FILE_CHARS = 12_000
READ_LIMIT = 4 * FILE_CHARS
# a commit named by its full id (sha-1 or sha-256), whose files never change, unlike a ref's
_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def _section(rel: str, text: str, capped: bool = False) -> str:
    more = f"{len(text) - FILE_CHARS}{' or more' if capped else ''}"
    cut = "" if len(text) <= FILE_CHARS else f"\n… ({more} more characters)"
    return f"## {rel}\n```\n{text[:FILE_CHARS]}{cut}\n```"


def _at(workspace: Path, commit: str, rel: str) -> str | None:
    shown = run_text(workspace, "cat-file", "blob", f"{commit}:{rel}")
    return shown.stdout if shown.returncode == 0 else None


@functools.lru_cache(maxsize=8)
def _baseline_at(workspace: Path, sha: str) -> str:
    """`baseline_text` at commit `sha`, which never changes: every prompt of a search, an
    autonomous session or a debug loop shows the same base, read once per process instead of
    one git process per starter file per prompt. A few commits at most, each a few sections."""
    return _baseline(workspace, sha)


def baseline_text(workspace: Path, base: str | None) -> str:
    """The starter files as commit `base` has them (the working copy's without one)."""
    if base is not None and _FULL_SHA.fullmatch(base):
        return _baseline_at(Path(workspace).resolve(), base.lower())
    return _baseline(workspace, base)


def _baseline(workspace: Path, base: str | None) -> str:
    chunks = []
    for rel in STARTER_FILES:
        if base is not None:
            text = _at(workspace, base, rel)
        else:
            try:
                raw = read_regular(safe_path(workspace, rel))
            except (MlrError, OSError):
                raw = None
            text = None if raw is None else raw.decode("utf-8", errors="replace")
        if text is not None:
            chunks.append(_section(rel, text))
    return "\n\n".join(chunks) or "(none)"


def changed_since(workspace: Path, base: str | None, commit: str = "HEAD") -> list[str]:
    """The paths `commit` changed since `base`, in the order the commits between first changed
    them: a node's list then only grows at its end from parent to child. None without a base."""
    if base is None:
        return []
    differ = run_text(workspace, "diff", "--name-only", "--no-renames", base, commit, "--")
    changed = set(differ.stdout.splitlines()) - {""}
    if differ.returncode != 0 or not changed:  # a draft's first step: nothing to order, no `git log`
        return []
    history = run_text(workspace, "log", "--reverse", "--no-renames", "--format=", "--name-only", f"{base}..{commit}", "--")
    ordered = [p for p in dict.fromkeys(history.stdout.splitlines()) if p in changed]
    return ordered + sorted(changed - set(ordered))


def later_paths(paths: list[str], changed: list[str]) -> list[str]:
    """Of `paths` (in their order), the ones the baseline part does not already show as they
    are now: every path but a starter file unchanged since the base."""
    return [p for p in dict.fromkeys(paths) if p not in STARTER_FILES or p in changed]


def files_text(workspace: Path, paths: list[str], *, note_unreadable: bool) -> str:
    """The current content of `paths`, in their order. An unreadable one is noted when the
    agent asked for it by name (`note_unreadable`), else left out."""
    chunks = []
    for rel in paths:
        try:
            # paths can come from a run's output, which the experiment's code controls: read no more
            # of a huge file than is shown
            raw = read_regular(safe_path(workspace, rel), READ_LIMIT)
        except MlrError as exc:
            if note_unreadable:
                chunks.append(f"## {rel}\n(refused: {exc})")
            continue
        except OSError as exc:
            if note_unreadable:
                chunks.append(f"## {rel}\n({'does not exist' if isinstance(exc, FileNotFoundError) else exc.strerror})")
            continue
        if raw is None:
            if note_unreadable:
                chunks.append(f"## {rel}\n(not a regular file: never read)")
        else:
            chunks.append(_section(rel, raw.decode("utf-8", errors="replace"), len(raw) == READ_LIMIT))
    return "\n\n".join(chunks) or "(none)"


def task_text(workspace: Path) -> str:
    """The workspace's task (its `task.toml`) in a paragraph."""
    try:
        task = load_task(workspace)
    except TaskError:
        return "(no task description)"
    return f"{task.title}: {task.description.strip()}\nCommand: `{task.command}`; metric {task.metric.name} ({task.metric.direction})."
