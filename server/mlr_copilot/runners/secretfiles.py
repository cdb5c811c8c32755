"""The workspace's secrets files, and the values in them a run's log must never show.

Which names are secrets is decided once, by `workspace.paths.SECRET_NAME` (the names the
agent refuses to read): the Docker runner hides these files and folders, every runner masks
their values in the log, and the local runner, which cannot hide them, names them in a warning.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlr_copilot.workspace.paths import TOOLING_DIRS, is_secret_name

# How many entries (files and folders) one search lists at most: about 0.1 s on a loaded
# machine. The search goes breadth first, so within it every shallow file is found before any
# deep one, at any depth; a folder holding more (a dataset of images) is not searched to its
# end, and its callers treat it as possibly holding secrets.
SCAN_LIMIT = 100_000
# More than this is not a secrets file but data named like one; its head is still read.
READ_BYTES = 256 * 1024
# The files read at the top of a folder named like a secret (`secrets/` holds a few).
FOLDER_FILES = 64
# A real secrets file holds a few values (a private key's lines are the most); every value
# costs the log masking of every run, so a file holding thousands keeps its longest.
MAX_VALUES = 128
_DOTENV = re.compile(r"\.env(?:\..*)?|\.envrc", re.IGNORECASE)
# `password = x`, `"api_key": "x"`, `password x` (netrc), `_authToken=x` (npmrc). Every
# repetition is bounded and the name must start a word, so a long line costs linear time.
_KEYED = re.compile(
    r"""\b\w{0,32}?(?:pass(?:word|wd|phrase)?|secret|token|key|auth|credential)\w{0,32}["']?\s{0,8}[:=]?\s{0,8}"""
    r"""["']?([^\s"',;]{1,512})""",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"""[\s=:@'"`,;()\[\]{}<>]+""")


@dataclass(frozen=True)
class Scan:
    """The secrets files and folders a search found, and whether it listed everything."""

    found: list[Path]
    complete: bool


def scan(path: Path, limit: int = SCAN_LIMIT) -> Scan:
    """The files and folders under `path` (itself included) named like secrets, at any depth
    (installed packages, caches and `.git` aside), listing at most `limit` entries, breadth
    first. Symlinks are not followed, so the search stays inside `path`; a folder named like a
    secret (`secrets/`) counts as a whole and is not entered. A virtualenv called `.env` holds
    installed packages, not keys: it is left alone like `.venv`. An unreadable folder counts
    as an incomplete search (what it holds is unknown)."""
    is_dir = path.is_dir() and not path.is_symlink()
    if _is_secret_entry(path, is_dir):
        return Scan([path], True)
    if not is_dir:
        return Scan([], True)
    found: list[Path] = []
    folders = deque([path])
    listed, complete = 0, True
    while folders:
        try:
            with os.scandir(folders.popleft()) as entries:
                for entry in entries:
                    listed += 1
                    if listed > limit:
                        return Scan(sorted(found), False)
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if _is_secret_entry(Path(entry.path), is_dir):
                        found.append(Path(entry.path))
                    elif is_dir and entry.name not in TOOLING_DIRS and not is_secret_name(entry.name):
                        folders.append(Path(entry.path))
        except OSError:
            complete = False
    return Scan(sorted(found), complete)


def _is_secret_entry(path: Path, is_dir: bool) -> bool:
    return is_secret_name(path.name) and not (is_dir and (path / "pyvenv.cfg").exists())


def secret_files(workspace: Path) -> list[Path]:
    """The files and folders of the workspace named like secrets, at any depth, as far as
    `scan` lists (the top levels always)."""
    return [path for path in scan(workspace).found if path != workspace]


def is_dotenv(name: str) -> bool:
    """Whether a secrets file holds `KEY=value` settings (`.env`, `.env.*`, `.envrc`)."""
    return _DOTENV.fullmatch(name) is not None


def values_in(path: Path, is_secret_key: Callable[[str], bool]) -> set[str]:
    """The secret values of one secrets file: in a `.env`-style file the values of the
    variables named like secrets (`is_secret_key`); in any other (kaggle.json, .netrc,
    credentials, private keys) every value that may be a password, key or token. A folder
    named like one (`secrets/`) gives those of the files at its top."""
    if path.is_dir():
        children = sorted(child for child in path.iterdir() if child.is_file())[:FOLDER_FILES]
        return set().union(*(values_in(child, is_secret_key) for child in children))
    text = _read_text(path)
    if not text:
        return set()
    if is_dotenv(path.name):
        # the parser's import costs a short run more than the run itself; most workspaces have no .env
        from io import StringIO

        from dotenv import dotenv_values

        return {value for key, value in dotenv_values(stream=StringIO(text)).items() if value and is_secret_key(key)}
    found = set(_json_strings(text))
    in_key = False  # between the BEGIN and END lines of a PEM block: every line is key material
    for line in text.splitlines():
        marker = line.strip()[:11]
        if marker == "-----BEGIN " or marker.startswith("-----END "):
            in_key = marker == "-----BEGIN "
            continue
        if in_key:
            found.add(line.strip())
        found.update(match.group(1) for match in _KEYED.finditer(line))
        found.update(token for token in _SEPARATORS.split(line) if _looks_random(token))
    return set(sorted(filter(None, found), key=len, reverse=True)[:MAX_VALUES])


def _read_text(path: Path) -> str:
    """The head of a regular file as text; nothing for a FIFO, a device or binary data (a
    keystore prints as nothing a log would show)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        data = os.read(fd, READ_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return ""
    finally:
        os.close(fd)
    return "" if b"\0" in data else data.decode("utf-8", errors="replace")


def _json_strings(text: str) -> Iterator[str]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            # a private key's value holds newlines; a program prints it line by line
            yield item
            yield from (line.strip() for line in item.splitlines())


def _looks_random(token: str) -> bool:
    """A word of a secrets file that is likely a key or password rather than a name: letters
    and digits mixed, or long."""
    if token.isdigit():
        return False
    return len(token) >= 20 or (any(c.isdigit() for c in token) and any(c.isalpha() for c in token))
