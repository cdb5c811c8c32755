"""How every git command MLR-Copilot runs on the host is built: so that it runs no program a
repository names.

A repository's own configuration (`.git/config`, `config.worktree` and the files they include)
is untrusted: it comes with a cloned workspace, and an experiment could have written it. Git
runs programs named there (`core.fsmonitor` on `status`, hooks on `commit` and `checkout`,
pagers, external diffs and textconv, clean/smudge filters on `add` and `checkout`, merge drivers
on `revert`, `gpg.program` on a signed commit, credential helpers and `core.sshCommand` on a
fetch). The system's and the user's own configuration are trusted: LFS filters, credential
helpers and the identity configured there keep working.

Git has no switch that skips the repository's configuration, and filter, diff and merge drivers
have names of the repository's choosing, so `-c` flags written in advance cannot cover them.
Instead the repository's configuration is read (reading runs nothing) and each key it sets that
names a program is set again at command scope, which wins over every file: to the value the
system or user configuration gives it, else to a value that runs nothing. On top of that, every
command runs without hooks, fsmonitor, pager, signing or editor, whatever any configuration
says, and every diff the project makes passes `--no-ext-diff --no-textconv`. Aliases need nothing: git never lets an alias replace a built-in command,
and the project only runs built-in ones. Keys only fetch, push, submodule or send-email
commands read (`remote.*.uploadpack`, `submodule.*.update`, ...) are left alone: the project
runs none of those in a workspace.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

# Set for every command, whatever any configuration says.
ALWAYS: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
    ("core.pager", "cat"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("protocol.ext.allow", "never"),
    # housekeeping is the user's own git's business: an automatic gc would double a step's time
    ("maintenance.auto", "false"),
    ("gc.auto", "0"),
)
ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": ":", "GIT_SEQUENCE_EDITOR": ":", "GIT_PAGER": "cat"}
# Keys naming a program, by (section, name) whatever their subsection, and what runs nothing.
_PROGRAMS = {
    ("core", "sshcommand"): "", ("core", "gitproxy"): "", ("core", "askpass"): "",
    ("core", "editor"): "", ("sequence", "editor"): "", ("credential", "helper"): "",
    ("gpg", "program"): "", ("diff", "command"): "", ("diff", "textconv"): "",
    # no empty value means "none" to git: an empty one fails, and the project's own diffs pass
    # --no-ext-diff and --no-textconv
    ("diff", "external"): "",
    ("filter", "clean"): "", ("filter", "smudge"): "", ("filter", "process"): "",
    # an empty merge driver would "succeed" by keeping one side; `false` reports a conflict
    ("merge", "driver"): "false",
}
_UNTRUSTED_SCOPES = frozenset({"local", "worktree"})

_cache: dict[Path, tuple[tuple, tuple[tuple[str, str], ...]]] = {}


def command(*args: str) -> list[str]:
    """The argv of `git ARGS` with no pager."""
    return ["git", "--no-pager", *args]


def environment(root: Path | str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment for a git command in repository `root` (None: outside any)."""
    env = {**os.environ, **ENV, **(extra or {})}
    overrides = [*(_repository_overrides(Path(root)) if root is not None else ()), *ALWAYS]
    # Appended after any the caller set: at the same (command) scope, the later value wins.
    count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    for index, (key, value) in enumerate(overrides, start=count):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + len(overrides))
    return env


def run(root: Path | str | None, *args: str, input: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`git ARGS` in `root`, output captured as bytes; never raises on an exit code."""
    return subprocess.run(
        command(*args), cwd=root, env=environment(root, env), capture_output=True, input=input,
        stdin=None if input is not None else subprocess.DEVNULL, timeout=timeout,
    )


def _neutral(key: str) -> str | None:
    section, _, rest = key.partition(".")
    name = rest.rpartition(".")[2]
    section, name = section.lower(), name.lower()
    if section == "pager":
        return ""
    return _PROGRAMS.get((section, name))


def _read_config(root: Path) -> list[tuple[str, str, str, str]]:
    """(scope, origin, key, value) of every configuration entry git sees in `root`."""
    done = subprocess.run(
        command("config", "--list", "--show-scope", "--show-origin", "-z"), cwd=root,
        env={**os.environ, **ENV}, capture_output=True, stdin=subprocess.DEVNULL, timeout=30,
    )
    fields = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    entries = []
    for at in range(0, len(fields) - 2, 3):
        key, _, value = fields[at + 2].partition("\n")
        entries.append((fields[at], fields[at + 1], key, value))
    return entries


def _stamp(root: Path, paths: list[Path]) -> tuple:
    stamps = []
    for path in paths:
        path = path if path.is_absolute() else root / path
        try:
            info = path.stat()
            stamps.append((str(path), info.st_ino, info.st_size, info.st_mtime_ns))
        except OSError:
            stamps.append((str(path), None))
    return tuple(stamps)


def _watched(root: Path, entries: list[tuple[str, str, str, str]]) -> list[Path]:
    """Besides the repository's own config files: every file an entry came from, and every
    file an include names (a conditional include may start to apply without any file changing,
    so its target is watched too)."""
    paths = []
    for scope, origin, key, value in entries:
        if scope not in _UNTRUSTED_SCOPES:
            continue
        source = Path(origin.removeprefix("file:"))
        paths.append(source)
        if key.lower().startswith(("include.", "includeif.")) and key.lower().endswith(".path"):
            target = Path(value).expanduser()
            paths.append(target if target.is_absolute() else (root / source).parent / target)
    return list(dict.fromkeys(paths))


def _repository_overrides(root: Path) -> tuple[tuple[str, str], ...]:
    cached = _cache.get(root)
    if cached is not None and _stamp(root, [Path(p[0]) for p in cached[0]]) == cached[0]:
        return cached[1]
    # stamped before reading, so a change made while git reads is seen next time
    before = _stamp(root, [root / ".git", root / ".git" / "config", root / ".git" / "config.worktree"])
    try:
        entries = _read_config(root)
    except (OSError, subprocess.SubprocessError):
        entries = []
    planted = {key for scope, _, key, _ in entries if scope in _UNTRUSTED_SCOPES and _neutral(key) is not None}
    overrides: list[tuple[str, str]] = []
    for key in sorted(planted):
        # the neutral value first: for a list (credential helpers) an empty value clears it
        overrides.append((key, _neutral(key) or ""))
        overrides += [(key, value) for scope, _, name, value in entries
                      if name == key and scope not in _UNTRUSTED_SCOPES]
    result = tuple(overrides)
    _cache[root] = (before + _stamp(root, _watched(root, entries)), result)
    return result
