"""The workspace's `.env`: which variables a workspace file may give this package, and the
environment the engine reads its settings and keys from.

A workspace's `.env` arrives with a clone, so it is the repository's word, not the user's. It
may provide what can only affect the repository's own accounts or narrow what we do:
- credentials (`ALLOWED_KEYS`): a key only ever goes to its service, at the address the user
  chose or the service's own, so a key the file provides spends the file's account;
- knobs that only narrow (`ALLOWED_KNOBS`): offline switches, budget caps, a contact address.
Everything else is left out. That matters for what would redirect the user's own keys (a base
URL, a proxy, a CA bundle), choose what runs (`MLR_COMMAND`, `MLR_SCRIPT`, the provider, the
runner, the image) or what is paid for (the model), and for what steers this process and its
children (`GIT_*`, `LD_*`, `PYTHON*`, `PATH`): those get one warning naming them and saying how
to set them deliberately. Other variables (the project's own, such as `DATABASE_URL`) are
simply not read; an experiment that wants them reads the file itself.

The values are never put into `os.environ`: the engine reads the layered view
`workspace_environ` returns, where the user's real environment wins over the file.
"""

from __future__ import annotations

import os
import re
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

ALLOWED_KEYS = frozenset({"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CLAUDE_API_KEY", "SEMANTIC_SCHOLAR_API_KEY"})
ALLOWED_KNOBS = frozenset({"MLR_OFFLINE", "HF_HUB_OFFLINE", "MLR_BUDGET_USD", "MLR_BUDGET_TOKENS", "OPENALEX_MAILTO"})
ALLOWED = ALLOWED_KEYS | ALLOWED_KNOBS
# A settings file is a few lines; a bigger one (or a link to a disk image) is not read.
MAX_BYTES = 256 * 1024
# How many malformed lines are named one by one.
_NAMED_LINES = 5

# Names that would steer this package, the SDKs and HTTP clients it calls, git, Docker, the
# dynamic loader or Python, were they taken from the file.
_STEERING = re.compile(
    r"(MLR|OPENAI|ANTHROPIC|CLAUDE|HF|HUGGINGFACE|SEMANTIC_SCHOLAR|OPENALEX|GIT|DOCKER|LD|PYTHON|SSL|CURL|REQUESTS)_.*"
    r"|PYTHON\w*|(HTTPS?|ALL|NO)_PROXY|PATH|HOME|TMPDIR|XDG_\w+",
    re.IGNORECASE,
)


def _malformed_lines(path: Path, text: str) -> list[str]:
    """Warnings naming the lines that are not KEY=VALUE (the first few, then how many more: each
    is a message in the editor); values are never quoted, they may be keys."""
    numbers = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        body = stripped[len("export "):] if stripped.startswith("export ") else stripped
        key, sep, _ = body.partition("=")
        if not sep or not key.strip() or not key.strip().replace("_", "a").isalnum():
            numbers.append(number)
    warnings = [f"{path}:{number}: ignored a malformed line (expected KEY=VALUE)" for number in numbers[:_NAMED_LINES]]
    if len(numbers) > _NAMED_LINES:
        warnings.append(f"{path}: ignored {len(numbers) - _NAMED_LINES} more malformed lines")
    return warnings


# python-dotenv's grammar (its `parser.py`, BSD-3-Clause, by Saurabh Kumar and contributors), without its `${VAR}` expansion, which is never wanted
# here (see `read_env_file`): the same text gives the same variables (tests/test_envfile.py holds
# the two to each other's answers), without importing python-dotenv and, with it, `logging` on
# every command's start-up. Compiled by `parse_env` (re caches them): not at import, which every
# workspace pays, one with no `.env` too.
_MULTILINE_WHITESPACE = r"\s*"
_WHITESPACE = r"[^\S\r\n]*"
_EXPORT = r"(?:export[^\S\r\n]+)?"
_SINGLE_QUOTED_KEY = r"'([^']+)'"
_UNQUOTED_KEY = r"([^=\#\s]+)"
_EQUAL_SIGN = r"(=[^\S\r\n]*)"
# a backslash escapes whatever follows it, so an escaped backslash ends no quote (python-dotenv 1.2.4)
_SINGLE_QUOTED_VALUE = r"'((?:\\.|[^'\\])*)'"
_DOUBLE_QUOTED_VALUE = r'"((?:\\.|[^"\\])*)"'
_UNQUOTED_VALUE = r"([^\r\n]*)"
_COMMENT = r"(?:[^\S\r\n]*#[^\r\n]*)?"
_END_OF_LINE = r"[^\S\r\n]*(?:\r\n|\n|\r|$)"
_REST_OF_LINE = r"[^\r\n]*(?:\r|\n|\r\n)?"
_DOUBLE_QUOTE_ESCAPES = r"\\[\\'\"abfnrtv]"
_SINGLE_QUOTE_ESCAPES = r"\\[\\']"
# what each escape decodes to (python-dotenv decodes them as Python's `unicode-escape`)
_ESCAPED = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
            "v": "\v"}


class _Malformed(Exception):
    """The statement does not parse: it is skipped to the end of its line."""


def parse_env(text: str) -> dict[str, str | None]:
    """The variables `text` sets, as python-dotenv's `dotenv_values(stream, interpolate=False)`
    reads them: `export` prefixes, quoted keys, single- and double-quoted values (which may span
    lines) with their escapes, unquoted values up to a ` #` comment, comment lines; a statement
    that does not parse is skipped to the end of its line. A name without `=` maps to None; a
    name set twice keeps its last value."""
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the first name
    position = 0

    def read(pattern: str) -> tuple[str, ...]:
        nonlocal position
        match = re.compile(pattern, re.DOTALL).match(text, position)
        if match is None:
            raise _Malformed
        position = match.end()
        return match.groups()

    def unescaped(pattern: str, value: str) -> str:
        return re.compile(pattern).sub(lambda match: _ESCAPED[match.group()[1]], value)

    values: dict[str, str | None] = {}
    while position < len(text):
        try:
            read(_MULTILINE_WHITESPACE)
            if position == len(text):
                break
            read(_EXPORT)
            first = text[position:position + 1]
            key = None if first == "#" else read(_SINGLE_QUOTED_KEY if first == "'" else _UNQUOTED_KEY)[0]
            read(_WHITESPACE)
            value = None
            if text[position:position + 1] == "=":
                (equal_sign,) = read(_EQUAL_SIGN)
                first = text[position:position + 1]
                if first == "#" and len(equal_sign) > 1:
                    value = ""  # `KEY= # note`: a comment after the `=` and a space (`KEY=#x` is a value)
                elif first == "'":
                    value = unescaped(_SINGLE_QUOTE_ESCAPES, read(_SINGLE_QUOTED_VALUE)[0])
                elif first == '"':
                    value = unescaped(_DOUBLE_QUOTE_ESCAPES, read(_DOUBLE_QUOTED_VALUE)[0])
                elif first in ("", "\n", "\r"):
                    value = ""
                else:
                    value = re.sub(r"\s+#.*", "", read(_UNQUOTED_VALUE)[0]).rstrip()
            read(_COMMENT)
            read(_END_OF_LINE)
        except _Malformed:
            read(_REST_OF_LINE)
            continue
        if key is not None:
            values[key] = value
    return values


class _Unread(Exception):
    """The file is not read; the message says why."""


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _Unread(f"{path} could not be read ({exc.strerror or exc}); ignored it") from None
    if len(data) > MAX_BYTES:
        raise _Unread(f"{path} is larger than {MAX_BYTES // 1024} KB, which no settings file is; ignored it")
    return data.decode("utf-8", errors="replace")


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """(the allowed variables `path` sets, warnings): malformed lines, and one warning naming
    every variable the file may not set."""
    # a FIFO or a device would block or never end: only a regular file (a link to one too) is read
    if not path.is_file():
        return {}, []
    try:
        text = _read(path)
    except _Unread as exc:
        return {}, [str(exc)]
    warnings = _malformed_lines(path, text)
    allowed: dict[str, str] = {}
    refused: list[str] = []
    # No interpolation: `SEMANTIC_SCHOLAR_API_KEY=${OPENAI_API_KEY}` would send the user's own
    # key to another service.
    for key, value in parse_env(text).items():
        if value is None or not key.replace("_", "a").isalnum():
            continue
        if key in ALLOWED:
            allowed[key] = value
        elif _STEERING.fullmatch(key):
            refused.append(key)
    if refused:
        warnings.append(
            f"{path} sets {', '.join(sorted(set(refused)))}: ignored, since a workspace's .env must not choose "
            "where your keys go, what runs or what you pay for; set them in your own environment, the "
            "editor's mlrCopilot settings or on the command line if you mean them"
        )
    return allowed, warnings


def workspace_environ(workspace: Path) -> tuple[Mapping[str, str], list[str]]:
    """The environment the engine reads (the process's own, over what the workspace's `.env`
    may set; read-only, and live, so it follows the process's own) and the warnings about
    that file."""
    allowed, warnings = read_env_file(Path(workspace) / ".env")
    return MappingProxyType(ChainMap(os.environ, allowed)), warnings
