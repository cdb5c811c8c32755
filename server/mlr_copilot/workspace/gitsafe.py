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
Instead the whole configuration is read (reading runs nothing) and each key that names a
program, where it comes from anything but the system's or the user's own file (the repository's
files, a "global" file inside the workspace, GIT_CONFIG_PARAMETERS), is set again, appended to
GIT_CONFIG_PARAMETERS so that it wins over every file and variable: to the value the system or
user file gives it, else to a value that runs nothing. On top of that, every command runs
without hooks, fsmonitor, pager, signing or editor, whatever any configuration says, and every
diff the project makes passes `--no-ext-diff --no-textconv`. Aliases need nothing: git never
lets an alias replace a built-in command, and the project only runs built-in ones. Keys only
fetch, push, submodule or send-email commands read (`remote.*.uploadpack`,
`submodule.*.update`, ...) are left alone: the project runs none of those in a workspace.
Environment variables that name programs (GIT_SSH_COMMAND, GIT_EXTERNAL_DIFF) are the user's.
"""

from __future__ import annotations

import os
import stat
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
    # a submodule's own configuration is no more the user's than the repository's: never enter one
    ("submodule.recurse", "false"),
    ("diff.ignoreSubmodules", "dirty"),
    # housekeeping is the user's own git's business: an automatic gc would double a step's time
    ("maintenance.auto", "false"),
    ("gc.auto", "0"),
)
# For status and diff, which otherwise run git inside each submodule (with that submodule's
# configuration, filters included) whatever `.gitmodules` asks; its recorded commit still counts.
NO_SUBMODULES = "--ignore-submodules=dirty"
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
# Where the user's own configuration comes from; any other scope (the repository's files, and
# variables a workspace's .env could have set) is untrusted for the keys above.
_TRUSTED_SCOPES = frozenset({"system", "global"})
# The variables that decide which configuration git reads.
_CONFIG_VARIABLES = ("GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
                     "GIT_CONFIG_NOSYSTEM", "HOME", "XDG_CONFIG_HOME")

# A file's identity and size and time (only its path when it cannot be read; only its identity
# for a directory): a changed stamp means the configuration must be read again.
_Stamp = tuple[tuple[str, int | None, int | None, int | None], ...]
# Per repository: the variables and stamps it was read under, its overrides, and each key's
# value (the last one git read, as `git config --get` answers; section and name lowercased).
_cache: dict[Path, tuple[tuple[str | None, ...], _Stamp, tuple[tuple[str, str], ...], dict[str, str]]] = {}


def command(*args: str) -> list[str]:
    """The argv of `git ARGS` with no pager."""
    return ["git", "--no-pager", *args]


def environment(root: Path | str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment for a git command in repository `root` (None: outside any)."""
    env = {**os.environ, **ENV, **(extra or {})}
    overrides = [*(_repository_overrides(Path(root)) if root is not None else _outside_overrides()), *ALWAYS]
    # Git reads the GIT_CONFIG_COUNT entries, then GIT_CONFIG_PARAMETERS in order, then each
    # `-c`: appended here, these win over every file and every variable set before.
    quoted = " ".join(f"{_quote(key)}={_quote(value)}" for key, value in overrides)
    inherited = env.get("GIT_CONFIG_PARAMETERS")
    env["GIT_CONFIG_PARAMETERS"] = f"{inherited} {quoted}" if inherited else quoted
    return env


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def run(root: Path | str | None, *args: str, input: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`git ARGS` in `root`, output captured as bytes; never raises on an exit code."""
    return subprocess.run(
        command(*args), cwd=root, env=environment(root, env), capture_output=True, input=input,
        stdin=None if input is not None else subprocess.DEVNULL, timeout=timeout,
    )


def run_text(root: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in `root`, output captured as text; never raises on an exit code."""
    return subprocess.run(
        command(*args), cwd=root, env=environment(root), capture_output=True,
        # ref names and paths are bytes: a planted branch `caf\xff` must not raise here
        encoding="utf-8", errors="replace", stdin=subprocess.DEVNULL,
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


def _stamp(root: Path, paths: list[Path]) -> _Stamp:
    stamps: list[tuple[str, int | None, int | None, int | None]] = []
    for path in paths:
        path = path if path.is_absolute() else root / path
        try:
            info = path.stat()
            if stat.S_ISDIR(info.st_mode):
                # `.git`'s time changes whenever git writes in it (a `status` refreshes the index),
                # which would read the configuration again for every command; the files that
                # configure are stamped one by one
                stamps.append((str(path), info.st_ino, None, None))
            else:
                stamps.append((str(path), info.st_ino, info.st_size, info.st_mtime_ns))
        except OSError:
            stamps.append((str(path), None, None, None))
    return tuple(stamps)


def _source(root: Path, origin: str) -> Path | None:
    if not origin.startswith("file:"):
        return None
    path = Path(origin.removeprefix("file:"))
    return path if path.is_absolute() else root / path


def _trusted(root: Path | None, scope: str, origin: str) -> bool:
    """The system's or the user's own file, unless it lies in the workspace `root` (a
    GIT_CONFIG_GLOBAL pointing there is the workspace's choice)."""
    source = _source(root or Path("/"), origin)
    inside = root is not None and source is not None and source.resolve().is_relative_to(root.resolve())
    return scope in _TRUSTED_SCOPES and source is not None and not inside


def _watched(root: Path, entries: list[tuple[str, str, str, str]]) -> list[Path]:
    """Besides the repository's own config files: every file an entry came from, and every
    file an include names (a conditional include may start to apply without any file changing,
    so its target is watched too)."""
    paths = []
    for _, origin, key, value in entries:
        source = _source(root, origin)
        if source is None:
            continue
        paths.append(source)
        if key.lower().startswith(("include.", "includeif.")) and key.lower().endswith(".path"):
            target = Path(value).expanduser()
            paths.append(target if target.is_absolute() else source.parent / target)
    return list(dict.fromkeys(paths))


def config_value(root: Path | str, key: str) -> str | None:
    """The value of configuration `key` in repository `root` (its last one, as `git config
    --get` gives it; None where unset), from the configuration this module reads anyway: no
    git process of its own."""
    section, _, rest = key.partition(".")
    subsection, _, name = rest.rpartition(".")
    return _read_cached(Path(root))[3].get(".".join(filter(None, (section.lower(), subsection, name.lower()))))


def _repository_overrides(root: Path) -> tuple[tuple[str, str], ...]:
    return _read_cached(root)[2]


def _read_cached(root: Path) -> tuple[tuple[str | None, ...], _Stamp, tuple[tuple[str, str], ...], dict[str, str]]:
    variables = tuple(os.environ.get(name) for name in _CONFIG_VARIABLES)
    cached = _cache.get(root)
    if cached is not None and cached[0] == variables and _stamp(root, [Path(p[0]) for p in cached[1]]) == cached[1]:
        return cached
    # stamped before reading, so a change made while git reads is seen next time
    before = _stamp(root, [root / ".git", root / ".git" / "config", root / ".git" / "config.worktree"])
    try:
        entries = _read_config(root)
    except (OSError, subprocess.SubprocessError):
        entries = []
    values = {key: value for _, _, key, value in entries}
    _cache[root] = (variables, before + _stamp(root, _watched(root, entries)), _neutralised(root, entries), values)
    return _cache[root]


def _outside_overrides() -> tuple[tuple[str, str], ...]:
    """The overrides for a command outside any repository (a clone): only variables can have
    planted anything there. Not cached: such commands are rare."""
    try:
        entries = _read_config(Path(os.devnull).parent)
    except (OSError, subprocess.SubprocessError):
        entries = []
    return _neutralised(None, [entry for entry in entries if entry[0] not in ("local", "worktree")])


def _neutralised(root: Path | None, entries: list[tuple[str, str, str, str]]) -> tuple[tuple[str, str], ...]:
    """Each key naming a program that an untrusted entry sets: its neutral value, then the
    values the trusted entries give it."""
    trusted = [(key, value) for scope, origin, key, value in entries if _trusted(root, scope, origin)]
    planted = {key for scope, origin, key, _ in entries
               if _neutral(key) is not None and not _trusted(root, scope, origin)}
    overrides: list[tuple[str, str]] = []
    for key in sorted(planted):
        # the neutral value first: for a list (credential helpers) an empty value clears it
        overrides.append((key, _neutral(key) or ""))
        overrides += [(name, value) for name, value in trusted if name == key]
    return tuple(overrides)
