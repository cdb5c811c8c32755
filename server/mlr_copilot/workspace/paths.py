"""Paths named by the LLM or the user, checked before anything reads or writes them.

A path is accepted only when it names a file strictly inside the workspace: relative, no
`..` component, no NUL byte, nothing inside `.git/` or `.mlr/` (git's and MLR-Copilot's own
state), no secrets file (`.env`, `.env.*`, credentials, private keys: whatever the agent reads
goes to the LLM provider), and no symlink on the way that leads out of the workspace or into
any of those.

Only regular files are ever read (`read_regular`): a FIFO, socket or device named `x.py` or
`results.json` would block the reader forever or never end.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from mlr_copilot.errors import MlrError

FORBIDDEN_DIRS = frozenset({".git", ".mlr"})
# Folders no walk of a workspace or a prototype's code looks into: version control's and
# MLR-Copilot's state, installed packages and tool caches (thousands of files, none of them the
# user's own work). The one list: the repository map, code search and the secrets-file search.
TOOLING_DIRS = FORBIDDEN_DIRS | {
    ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", "site-packages", ".eggs", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints",
}
# Names that by convention hold API keys, passwords or private keys (a folder with such a
# name, say a virtualenv called `.env`, counts as a whole). The one list: the agent never reads
# these, Docker runs do not see them, and run logs mask their values. SSH keys are `id_` names
# without an extension, as ssh-keygen writes them: `id_rsa.pub` is public, and `id_to_label.json`
# is a dataset's.
SECRET_NAME = re.compile(
    r"""\.env|\.env\..*|\.envrc|\.netrc|_netrc|\.pgpass|\.pypirc|\.npmrc|\.git-credentials
    |kaggle\.json|credentials?(?:[._-].*)?|secrets?(?:[._-].*)?|service[_-]?account.*\.json|id_[^.]+
    |.*\.(?:pem|key|p12|pfx|jks|keystore|ppk)""",
    re.IGNORECASE | re.VERBOSE,
)

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


class EditEscapeError(MlrError):
    """A path that would read or write outside the workspace's editable files."""


def _refuse(rel: str, why: str) -> EditEscapeError:
    return EditEscapeError(f"refused path {rel!r}: {why}")


def _parts(rel: str) -> list[str]:
    # Backslashes count as separators so a Windows-style `..\\x` cannot slip through.
    return [part for part in rel.replace("\\", "/").split("/") if part not in ("", ".")]


def is_secret_name(name: str) -> bool:
    """Whether a file or folder name is one that holds secrets by convention."""
    return SECRET_NAME.fullmatch(name) is not None


def _check_parts(rel: str, parts: list[str]) -> None:
    for part in parts:
        if part == "..":
            raise _refuse(rel, "'..' is not allowed; give a path relative to the workspace root")
        if part.lower() in FORBIDDEN_DIRS:
            raise _refuse(rel, f"files inside {part}/ are managed by git or MLR-Copilot and cannot be edited")
        if is_secret_name(part):
            raise _refuse(rel, f"{part} looks like a secrets file (API keys, credentials); "
                               "MLR-Copilot never reads, edits or commits it")


def safe_path(workspace: Path, rel: str) -> Path:
    """The resolved absolute path of `rel` inside `workspace`, or `EditEscapeError`."""
    if not isinstance(rel, str) or not rel.strip():
        raise _refuse(str(rel), "the file name is empty")
    if "\x00" in rel:
        raise _refuse(rel, "it contains a NUL byte")
    if rel.startswith(("/", "\\", "~")) or _WINDOWS_DRIVE.match(rel) or Path(rel).is_absolute():
        raise _refuse(rel, "absolute paths are not allowed; give a path relative to the workspace root")
    parts = _parts(rel)
    if not parts:
        raise _refuse(rel, "it names the workspace itself, not a file")
    _check_parts(rel, parts)

    root = Path(workspace).resolve()
    target = root.joinpath(*parts).resolve()
    try:
        inside = target.relative_to(root)
    except ValueError:
        raise _refuse(rel, f"a symlink on the way leads outside the workspace (to {target})") from None
    if not inside.parts:
        raise _refuse(rel, "it resolves to the workspace itself, not a file")
    try:
        _check_parts(rel, list(inside.parts))
    except EditEscapeError:
        raise _refuse(rel, f"a symlink on the way leads to {inside.as_posix()}, which is off limits") from None
    return target


def relative_posix(workspace: Path, rel: str) -> str:
    """The canonical workspace-relative form of `rel` (after `safe_path`), with `/` separators."""
    target = safe_path(workspace, rel)
    return PurePosixPath(*target.relative_to(Path(workspace).resolve()).parts).as_posix()


def read_regular(path: Path | str, max_bytes: int | None = None) -> bytes | None:
    """The content of `path` (its first `max_bytes` bytes at most) if it is a regular file,
    None if it is anything else; OSError if it cannot be opened (FileNotFoundError: nothing
    there). Opened without blocking and checked on the open file, so a FIFO swapped in after
    an earlier check cannot hang the read either."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read() if max_bytes is None else handle.read(max_bytes)
    finally:
        os.close(fd)


def resolve_path(workspace: Path, value: str) -> Path:
    """A path argument as an editor or a shell gives it: a file URI, absolute, or relative to the workspace."""
    if value.startswith("file:"):
        return Path(unquote(urlparse(value).path))
    path = Path(value).expanduser()
    return path if path.is_absolute() else workspace / path
