"""Where a search session lives: `.mlr/search/<session>/journal.json`, written atomically after
every node, and one ref per node (`refs/mlr/search/<session>/<node>`) so each node's commit
stays reachable without a branch in the user's branch list. The latest reflect evidence is
also kept at `.mlr/search/evidence.md`, where the ideas phase reads it."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MlrError
from ..state import StateDir, read_json, write_json
from ..workspace.gitsafe import run_text

SESSION = re.compile(r"^[0-9]{8}-[0-9]{6}(-[0-9]+)?$")
REF_ROOT = "refs/mlr/search"
EVIDENCE_FILE = "evidence.md"

if TYPE_CHECKING:
    from .model import Journal


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
    return StateDir(workspace).root / "search" / session / "journal.json"


def save(workspace: Path, journal: Journal) -> None:
    write_json(journal_path(workspace, journal.session), journal.model_dump(mode="json"))


def load(workspace: Path, session: str) -> Journal:
    # the journal's model: `history` reads the journal's summary (search/summary.py) without it
    from pydantic import ValidationError

    from .model import Journal

    path = journal_path(workspace, session)
    try:
        data = read_json(path)
        if data is None:
            raise MlrError(f"no search session {session} ({path} does not exist)")
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


def keep(workspace: Path, session: str, node: str, commit: str) -> None:
    """Keep `commit` reachable by the node's own ref (never a branch)."""
    out = run_text(workspace, "update-ref", node_ref(session, node), commit)
    if out.returncode != 0:
        raise MlrError(f"could not keep node {node} at {commit[:12]}: {out.stderr.strip()}")


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
