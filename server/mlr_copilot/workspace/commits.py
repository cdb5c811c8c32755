"""Commits as the project reads and writes them: the one `CommitInfo`, the `MLR-*` trailers,
where HEAD is and the commits of a branch.

Light on purpose (no GitPython): every run asks where HEAD is, and the history table lists
branches, through `gitsafe.run_text`; each git process costs several milliseconds of the
start-up of `history` (bench/bench_startup.py), so one `for-each-ref` answers every question
about the branches and one `git log` gives the commits of them all.
"""

from __future__ import annotations

import heapq
import os
import re
import subprocess
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from mlr_copilot.plain import EMPTY_DICT, EMPTY_LIST
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.errors import GitWorkspaceError

HYPOTHESIS_TRAILER = "MLR-Hypothesis"
REVERTS_TRAILER = "MLR-Reverts"
# Branches the agent makes, one per hypothesis.
BRANCH_PREFIX = "mlr/"
# The identity of agent commits and notes where git has none configured.
DEFAULT_IDENTITY = ("MLR-Copilot", "mlr-copilot@localhost")

_TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_FIELD = "\x1f"
_RECORD = "\x1e"
_LOG_FIELDS = ("%H", "%h", "%s", "%cI", "%P", "%(trailers:only,unfold)")


class CommitInfo(NamedTuple):
    """One commit; `date` is None only for a placeholder of a run made outside any commit.
    A plain record (`plain.py`): `history` starts without pydantic."""

    sha: str
    short: str
    subject: str
    trailers: dict[str, str] = EMPTY_DICT
    date: datetime | None = None
    parents: list[str] = EMPTY_LIST

    @property
    def hypothesis(self) -> str | None:
        return self.trailers.get(HYPOTHESIS_TRAILER) or None


def parse_trailers(block: str) -> dict[str, str]:
    trailers: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep and _TRAILER_KEY.match(key.strip()):
            trailers[key.strip()] = value.strip()
    return trailers


def format_message(message: str, trailers: dict[str, str]) -> str:
    """`message` followed by a trailer block of `Key: value` lines."""
    body = message.strip()
    if not body:
        raise GitWorkspaceError("a commit message is required")
    lines = []
    for key, value in trailers.items():
        if not _TRAILER_KEY.match(key):
            raise GitWorkspaceError(f"invalid trailer key {key!r}: use letters, digits and '-'")
        value = " ".join(str(value).split())
        if not value:
            raise GitWorkspaceError(f"trailer {key!r} has an empty value")
        lines.append(f"{key}: {value}")
    return body + ("\n\n" + "\n".join(lines) if lines else "") + "\n"


def walk_log(workspace: Path | str, *args: str, body: bool = False) -> Generator[tuple[CommitInfo, str], None, None]:
    """The records of `git log ARGS` (as `parse_log` gives them) while git writes them: a
    caller that stops early ends git there, so looking for the newest commit of a kind reads
    no further back than it. GitWorkspaceError when git fails."""
    process = subprocess.Popen(gitsafe.command("log", log_format(body), *args), cwd=workspace,
                               env=gitsafe.environment(workspace), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    try:
        pending = b""
        while chunk := os.read(process.stdout.fileno(), 1 << 16):
            *records, pending = (pending + chunk).split(_RECORD.encode())
            for record in records:
                yield from parse_log(record.decode("utf-8", "replace"))
        said = process.stderr.read().decode("utf-8", "replace").strip()
        if process.wait() != 0:
            raise GitWorkspaceError(f"git log failed in {workspace}: {said or f'exit code {process.returncode}'}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


def log_format(body: bool = False, *, mark: bool = False) -> str:
    """The `git log` option whose output `parse_log` reads (with `body`, each message's body;
    with `mark`, instead, `-` for a boundary commit)."""
    extra = ["%b"] if body else ["%m"] if mark else []
    return f"--format={_FIELD.join([*_LOG_FIELDS, *extra])}{_RECORD}"


def parse_log(out: str) -> list[tuple[CommitInfo, str]]:
    """(commit, body or mark: empty unless asked for) of each record of `log_format`'s output."""
    commits = []
    for record in out.split(_RECORD):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, short, subject, date, parents, trailers, *rest = record.split(_FIELD)
        info = CommitInfo(sha=sha, short=short, subject=subject, trailers=parse_trailers(trailers),
                          date=datetime.fromisoformat(date), parents=parents.split())
        commits.append((info, rest[0] if rest else ""))
    return commits


class HeadInfo(NamedTuple):
    commit: str
    branch: str | None
    dirty: bool


def head_info(workspace: Path | str) -> HeadInfo | None:
    """HEAD of the workspace repository; None when it is not a git repository or has no commit.
    One `git status` answers all three questions: every run asks them, and each git process
    costs several milliseconds."""
    try:
        # Tracked changes only: untracked outputs (checkpoints, plots) do not make a run dirty.
        status = gitsafe.run_text(workspace, "status", "--porcelain=v2", "--branch", "--untracked-files=no",
                                  gitsafe.NO_SUBMODULES)
    except OSError:
        return None
    if status.returncode != 0:
        return None
    commit = branch = None
    dirty = False
    for line in status.stdout.splitlines():
        if line.startswith("# branch.oid "):
            commit = line.removeprefix("# branch.oid ")
        elif line.startswith("# branch.head "):
            branch = line.removeprefix("# branch.head ")
        elif not line.startswith("#"):
            dirty = True
    if commit is None or commit == "(initial)":
        return None
    return HeadInfo(commit, None if branch == "(detached)" else branch, dirty)


class Branches(NamedTuple):
    """The local branches, by name, with their commits; the one checked out (None: HEAD is
    detached, unborn or elsewhere); the branch origin's HEAD names ("": none)."""

    heads: dict[str, str]
    current: str | None
    origin_head: str


def list_branches(workspace: Path | str) -> Branches | None:
    """The local branches and where HEAD and origin's HEAD point, in one `for-each-ref`;
    None when the workspace is not a git repository."""
    listed = gitsafe.run_text(workspace, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(symref)%00%(HEAD)",
                              "refs/heads/", "refs/remotes/origin/HEAD")
    if listed.returncode != 0:
        return None
    heads: dict[str, str] = {}
    current, origin_head = None, ""
    for line in listed.stdout.splitlines():
        ref, sha, target, marker = (line.split("\0") + ["", "", ""])[:4]
        if ref == "refs/remotes/origin/HEAD":
            origin_head = target.removeprefix("refs/remotes/").split("/", 1)[-1]
        elif ref.startswith("refs/heads/"):
            heads[ref.removeprefix("refs/heads/")] = sha
            if marker == "*":
                current = ref.removeprefix("refs/heads/")
    return Branches(heads, current, origin_head)


def base_branch(workspace: Path | str, listed: Branches) -> str | None:
    """Of the `listed` branches, the repository's base branch: origin's HEAD, else
    init.defaultBranch, main or master. The configuration is the one gitsafe reads anyway."""
    if listed.origin_head in listed.heads:
        return listed.origin_head
    configured = gitsafe.config_value(workspace, "init.defaultBranch") or ""
    return next((name for name in (configured, "main", "master") if name and name in listed.heads), None)


def default_branch(workspace: Path | str) -> str | None:
    """The repository's base branch (`base_branch`), None outside a repository."""
    listed = list_branches(workspace)
    return base_branch(workspace, listed) if listed is not None else None


def branch_histories(workspace: Path | str, tips: list[str], base: str | None, *,
                     limit: int = 500) -> list[list[CommitInfo] | None]:
    """For each commit of `tips`, what `commits_since_base` gives for it against the commit
    `base`, from one `git log` over them all: its commits newest first back to and including
    its merge base with `base`, or its whole history (capped at `limit`) when it is `base`'s,
    on it, or shares none. None for a tip the log does not settle (a merge base in a
    criss-cross, a fork older than the commits read): ask `commits_since_base` for it.

    The log reads the tips' commits that are not ancestors of `base`'s `limit`th first parent,
    and the boundary commits where that cut falls (all ancestors of `base`). A read commit that
    is an ancestor of `base` is one through read commits only, so which commits are a tip's own
    and where they meet `base`'s history is exact; each list is then ordered as git orders a
    log of it alone (newest committer date first, ties in the order git meets them), so the
    result is that of a git process per tip."""
    wanted = list(dict.fromkeys([*tips, *([base] if base else [])]))
    if not wanted:
        return []
    # a few times what the per-tip logs would read (merges bring their side's commits in):
    # more means a history too wide to settle here
    most = 4 * limit * len(wanted)
    cut = [f"^{base}~{limit}"] if base else []
    out = gitsafe.run_text(workspace, "log", "--boundary", "--ignore-missing", f"--max-count={most}",
                           log_format(mark=True), "--end-of-options", *wanted, *cut, "--")
    if out.returncode != 0:
        return [None] * len(tips)
    # each commit read, and whether it is a boundary one (its parents not read)
    known = {commit.sha: (commit, mark == "-") for commit, mark in parse_log(out.stdout)}
    if sum(1 for _, edge in known.values() if not edge) >= most:
        return [None] * len(tips)
    # the boundary commits are ancestors of base's limit-th parent, so of base
    on_base = _ancestors([base] if base else [], known) | {sha for sha, (_, edge) in known.items() if edge}
    return [_history_of(tip, base, known, on_base, limit) for tip in tips]


def _ancestors(starts: list[str], known: dict[str, tuple[CommitInfo, bool]]) -> set[str]:
    """`starts` and their ancestors among the `known` commits, through known ones."""
    found: set[str] = set()
    todo = [sha for sha in starts if sha in known]
    while todo:
        sha = todo.pop()
        if sha not in found:
            found.add(sha)
            todo += [parent for parent in known[sha][0].parents if parent in known]
    return found


def _history_of(tip: str, base: str | None, known: dict[str, tuple[CommitInfo, bool]], on_base: set[str],
                limit: int) -> list[CommitInfo] | None:
    if tip not in known:
        return None
    if tip in on_base or base is None:
        return _walk(tip, known, None, limit)
    # the tip's own commits (no ancestor of base's) and the common ancestors they lead to
    own: set[str] = set()
    met: set[str] = set()
    todo = [tip]
    while todo:
        sha = todo.pop()
        if sha in own:
            continue
        own.add(sha)
        for parent in known[sha][0].parents:
            if parent not in known:
                return None
            if parent in on_base:
                met.add(parent)
            else:
                todo.append(parent)
    if not met:
        return _walk(tip, known, None, limit)  # no common history: all of it, as git logs it
    # the merge bases: the common ancestors met that are no ancestor of another one met
    best = met - _ancestors([parent for sha in met for parent in known[sha][0].parents], known)
    beyond = any(known[sha][1] and known[sha][0].parents for sha in met)
    if len(best) != 1 or (len(met) > 1 and beyond):
        return None  # several merge bases (git picks one), or ancestry beyond the commits read
    return _walk(tip, known, own | best, limit)


def _walk(tip: str, known: dict[str, tuple[CommitInfo, bool]], within: set[str] | None,
          limit: int) -> list[CommitInfo] | None:
    """The first `limit` commits of `git log` from `tip` (only those `within`, if given): git
    takes the newest committer date next, ties in the order it met them."""
    queue = [(-_seconds(known[tip][0]), 0, tip)]
    seen = {tip}
    met = 1
    walked: list[CommitInfo] = []
    while queue:
        sha = heapq.heappop(queue)[2]
        walked.append(known[sha][0])
        if len(walked) == limit:
            break
        for parent in known[sha][0].parents:
            if parent in seen or (within is not None and parent not in within):
                continue
            if parent not in known:
                return None  # the walk goes on beyond what the log read
            seen.add(parent)
            heapq.heappush(queue, (-_seconds(known[parent][0]), met, parent))
            met += 1
    return walked


def _seconds(commit: CommitInfo) -> float:
    return commit.date.timestamp() if commit.date else 0.0


def branch_commits(workspace: Path | str, branch: str | None = None, *, limit: int = 500) -> list[CommitInfo]:
    """The commits of `branch` (default: the current one), newest first, back to and including
    its merge base with the default branch; the whole (capped) history on the default branch.
    A `branch` from outside is checked first (`workspace.refs.branch_ref`)."""
    return commits_since_base(workspace, branch, default_branch(workspace), limit=limit)


def commits_since_base(workspace: Path | str, branch: str | None, default: str | None, *,
                       limit: int = 500) -> list[CommitInfo]:
    """`branch_commits` with the default branch known (`default_branch`), for a caller that
    lists several branches against it."""
    tip = branch or "HEAD"
    range_args = [tip]
    # the default branch's own history is whole: no merge base to ask for
    if default is not None and tip not in (default, f"refs/heads/{default}"):
        base = gitsafe.run_text(workspace, "merge-base", "--end-of-options", default, tip).stdout.strip()
        tip_sha = gitsafe.run_text(workspace, "rev-parse", "--verify", "-q", "--end-of-options", tip).stdout.strip()
        if base and base != tip_sha:
            range_args = [tip, f"^{base}^@"]
    result = gitsafe.run_text(workspace, "log", f"--max-count={limit}", log_format(), "--end-of-options",
                              *range_args, "--")
    if result.returncode != 0:
        return []
    return [commit for commit, _ in parse_log(result.stdout)]
