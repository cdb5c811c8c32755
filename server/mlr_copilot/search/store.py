"""Where a search session lives: `.mlr/search/<session>/journal.jsonl`, saved after every step
(`JournalWriter`), and one ref per node (`refs/mlr/search/<session>/<node>`, `RefKeeper`) so
each node's commit stays reachable without a branch in the user's branch list. The latest
reflect evidence is also kept at `.mlr/search/evidence.md`, where the ideas phase reads it.

The journal is append-only: a save writes one line holding what changed since the line before
(the journal's fields whose value changed, and the nodes that are new or changed), so a save
costs what changed, not the whole tree. A line is a whole save: a kill in the middle of an
append leaves a torn last line, which a reader ignores (it sees the save before, as a reader of
a file replaced atomically would), and the next process to save starts by rewriting the file.
Whenever the lines appended outgrow the first one, the file is rewritten atomically as a single
line holding the whole journal (a snapshot), so it stays within twice the journal's size."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import MlrError
from ..state import StateDir, read_json
from ..workspace import gitsafe
from ..workspace.gitsafe import run_text

if TYPE_CHECKING:
    from .model import Journal

SESSION = re.compile(r"^[0-9]{8}-[0-9]{6}(-[0-9]+)?$")
REF_ROOT = "refs/mlr/search"
EVIDENCE_FILE = "evidence.md"
JOURNAL_FILE = "journal.jsonl"
# where sessions saved before the append-only journal kept theirs (read, then replaced)
OLD_JOURNAL_FILE = "journal.json"
# appended bytes below this never make a snapshot: a small journal is cheap to read anyway
COMPACT_MIN_BYTES = 64 * 1024
PLAIN_REF = re.compile(r"^refs/[A-Za-z0-9._/-]+$")
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def new_session_id(workspace: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    root = StateDir(workspace).root / "search"
    session, number = stamp, 1
    while (root / session).exists():
        number += 1
        session = f"{stamp}-{number}"
    return session


def journal_path(workspace: Path, session: str) -> Path:
    if not SESSION.match(session):
        raise MlrError(f"{session!r} is not a search session id (such as 20260101-120000)")
    return StateDir(workspace).root / "search" / session / JOURNAL_FILE


def _line(fields: dict[str, Any], nodes: list[dict[str, Any]]) -> bytes:
    return (json.dumps({"journal": fields, "nodes": nodes}, ensure_ascii=False, separators=(",", ":"))
            + "\n").encode("utf-8")


class JournalWriter:
    """Saves one session's journal, as its only writer (the process that owns the session):
    it remembers what it wrote last, so each save appends only what changed since."""

    def __init__(self, workspace: Path, session: str):
        self.path = journal_path(workspace, session)
        self._fields: dict[str, Any] = {}
        self._nodes: dict[str, dict[str, Any]] = {}
        # the file's size after this writer's last save, and its first line's; None: rewrite it
        self._size: int | None = None
        self._snapshot = 0

    def save(self, journal: Journal) -> None:
        fields = journal.model_dump(mode="json")
        nodes = {n["id"]: n for n in fields.pop("nodes")}
        if self._appendable():
            changed = {k: v for k, v in fields.items() if k not in self._fields or self._fields[k] != v}
            changed_nodes = [n for key, n in nodes.items() if self._nodes.get(key) != n]
            if changed or changed_nodes:
                line = _line(changed, changed_nodes)
                with self.path.open("ab") as handle:
                    handle.write(line)
                assert self._size is not None  # _appendable says so
                self._size += len(line)
        else:
            self._rewrite(fields, list(nodes.values()))
        self._fields, self._nodes = fields, nodes

    def _appendable(self) -> bool:
        """Whether a line may go at the end: the file is as this writer left it (no torn line
        from a failed append, no other hand has rewritten it) and small enough."""
        if self._size is None or self._size - self._snapshot > max(self._snapshot, COMPACT_MIN_BYTES):
            return False
        try:
            return self.path.stat().st_size == self._size
        except OSError:
            return False

    def _rewrite(self, fields: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
        """The whole journal as one line, replacing the file atomically: a kill leaves the old one."""
        line = _line(fields, nodes)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(line)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        (self.path.parent / OLD_JOURNAL_FILE).unlink(missing_ok=True)
        self._size = self._snapshot = len(line)


def save(workspace: Path, journal: Journal) -> None:
    """The whole journal, rewritten atomically: for a hand other than the session's own writer."""
    JournalWriter(workspace, journal.session).save(journal)


def _replay(text: str) -> dict[str, Any]:
    """The journal the lines of `text` add up to: each line's fields over the ones before, its
    nodes in place of their earlier versions, new ones at the end. An unreadable last line is
    a save cut short by a kill, left out; an unreadable line before it is damage."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    fields: dict[str, Any] = {}
    nodes: dict[str, Any] = {}
    for number, line in enumerate(lines, 1):
        try:
            save = json.loads(line)
            changed, saved = save["journal"], save["nodes"]
            if not isinstance(changed, dict) or not isinstance(saved, list):
                raise ValueError("a line holds a journal object and a nodes list")
            for node in saved:
                nodes[node["id"]] = node
        except (ValueError, TypeError, KeyError) as exc:
            if number == len(lines) and number > 1:
                break
            raise ValueError(f"line {number}: {exc}") from None
        fields.update(changed)
    return {**fields, "nodes": list(nodes.values())}


def journal_data(workspace: Path, session: str) -> tuple[Path, dict[str, Any]]:
    """The journal as saved, unvalidated, and the file it was read from: MlrError when there is
    none, ValueError when it does not add up to one (`search/summary.py` reads it too)."""
    path = journal_path(workspace, session)
    try:
        return path, _replay(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        old = path.with_name(OLD_JOURNAL_FILE)
        data = read_json(old)
        if data is None:
            raise MlrError(f"no search session {session} ({path} does not exist)") from None
        return old, data


def load(workspace: Path, session: str) -> Journal:
    # the journal's model: `history` reads the journal's summary (search/summary.py) without it
    from pydantic import ValidationError

    from .model import Journal

    path = journal_path(workspace, session)
    try:
        path, data = journal_data(workspace, session)
        return Journal.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise MlrError(f"the search journal {path} cannot be read ({str(exc).splitlines()[0]})") from None


def latest_session(workspace: Path) -> str:
    root = StateDir(workspace).root / "search"
    sessions = sorted(p.name for p in root.iterdir() if SESSION.match(p.name)) if root.is_dir() else []
    if not sessions:
        raise MlrError(f"no search session in {root} yet: `search` starts one")
    return sessions[-1]


def load_session(workspace: Path, session: str | None) -> Journal:
    """Session `session`'s journal, by default the latest one's."""
    return load(workspace, session or latest_session(workspace))


def node_ref(session: str, node: str) -> str:
    return f"{REF_ROOT}/{session}/{node}"


class RefKeeper:
    """Keeps each node's commit reachable by the node's own ref (never a branch), through one
    `git update-ref --stdin` for the whole search: each ref in a transaction of its own, done
    when git answers, without a git process per node. Where that process cannot serve (a git
    older than 2.28 has no transactions on stdin; it died), one `git update-ref` per ref does,
    and says why a ref could not be kept."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self._git: subprocess.Popen[bytes] | None = None
        # set once a ref the process failed was kept by a process of its own: it cannot serve
        self._plain = False
        self._lock = threading.Lock()

    def keep(self, session: str, node: str, commit: str) -> None:
        ref = node_ref(session, node)
        with self._lock:
            # a line of the process's input holds a ref and a sha, nothing else (no second command)
            tried = not self._plain and bool(PLAIN_REF.match(ref) and SHA.match(commit))
            if tried and self._transaction(ref, commit):
                return
            self._stop()
            # git's own words on why, from a process of its own
            out = run_text(self.workspace, "update-ref", ref, commit)
            if out.returncode != 0:
                raise MlrError(f"could not keep node {node} at {commit[:12]}: {out.stderr.strip()}")
            # the ref itself was fine: the process is what could not serve it
            self._plain = self._plain or tried

    def _transaction(self, ref: str, commit: str) -> bool:
        try:
            if self._git is None:
                self._git = subprocess.Popen(gitsafe.command("update-ref", "--stdin"), cwd=self.workspace,
                                             env=gitsafe.environment(self.workspace), stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            stdin, stdout = _pipes(self._git)
            stdin.write(f"start\nupdate {ref} {commit}\ncommit\n".encode())
            stdin.flush()
            return stdout.readline() == b"start: ok\n" and stdout.readline() == b"commit: ok\n"
        except OSError:
            return False

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        git, self._git = self._git, None
        if git is None:
            return
        for pipe in (git.stdin, git.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        try:
            git.wait(timeout=10)
        except subprocess.TimeoutExpired:
            git.kill()
            git.wait()


def _pipes(git: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    assert git.stdin is not None and git.stdout is not None  # opened with PIPE
    return git.stdin, git.stdout


def evidence_path(workspace: Path) -> Path:
    return StateDir(workspace).root / "search" / EVIDENCE_FILE


def save_evidence(workspace: Path, text: str) -> None:
    path = evidence_path(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read_evidence(workspace: Path) -> str:
    """What the last reflect step of a search found, or '' when no search reflected yet."""
    try:
        return evidence_path(workspace).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return ""
