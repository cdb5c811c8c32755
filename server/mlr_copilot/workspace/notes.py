"""Run summaries appended as git notes under `refs/notes/mlr`: `git log --notes=mlr` shows
them, and no commit is added to the user's history."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.commits import DEFAULT_IDENTITY

log = logging.getLogger(__name__)

NOTES_REF = "mlr"
# Used for the notes commit only when the user has no git identity configured.
_FALLBACK_IDENTITY = ("-c", f"user.name={DEFAULT_IDENTITY[0]}", "-c", f"user.email={DEFAULT_IDENTITY[1]}")


@functools.lru_cache(maxsize=64)
def _has_identity(workspace: str) -> bool:
    return gitsafe.run_text(workspace, "var", "GIT_COMMITTER_IDENT").returncode == 0


def append_note(workspace: Path | str, commit: str, text: str) -> bool:
    """Append one line to the commit's note under refs/notes/mlr; False (logged) on failure.
    The user's own identity is tried first and the fallback only when git has none, so the
    common case is a single git process."""
    # a record read back from .mlr/ may name anything as its commit: never read as an option
    args = ("notes", f"--ref={NOTES_REF}", "append", "-m", text, "--end-of-options", commit)
    result = gitsafe.run_text(workspace, *args)
    if result.returncode != 0 and not _has_identity(str(workspace)):
        result = gitsafe.run_text(workspace, *_FALLBACK_IDENTITY, *args)
    if result.returncode != 0:
        log.warning("could not attach the run note to %s: %s", commit[:12], result.stderr.strip())
        return False
    return True


def read_notes(workspace: Path | str, commit: str) -> str:
    result = gitsafe.run_text(workspace, "notes", f"--ref={NOTES_REF}", "show", "--end-of-options", commit)
    return result.stdout if result.returncode == 0 else ""
