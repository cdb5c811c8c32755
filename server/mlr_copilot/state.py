"""The workspace state folder `.mlr/`: where every phase saves its plain data so any step
resumes after a crash. The folder ignores itself, so nothing in it reaches the user's commits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_DIR = ".mlr"


class StateDir:
    """Paths inside `<workspace>/.mlr/`; folders are made on first use."""

    def __init__(self, workspace: Path | str):
        self.workspace = Path(workspace).resolve()
        self.root = self.workspace / STATE_DIR

    def ensure(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# MLR-Copilot state: never committed\n*\n", encoding="utf-8")
        return self.root

    def folder(self, *parts: str) -> Path:
        self.ensure()
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def transactions(self) -> Path:
        """Where an agent's change waits between its files and its commit
        (`experiment/transaction.py`); not made here: it exists only while one does."""
        return self.root / "txn"

    @property
    def ideas(self) -> Path:
        return self.folder("ideas")

    @property
    def implement(self) -> Path:
        return self.folder("implement")

    @property
    def runs(self) -> Path:
        return self.folder("runs")

    @property
    def logs(self) -> Path:
        return self.folder("logs")

    def cache(self, name: str) -> Path:
        return self.folder("cache", name)


def user_cache_dir(name: str) -> Path:
    """A cache shared across workspaces (retrieval answers, cloned prototype repositories)."""
    base = Path(os.environ.get("MLR_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = (base / "mlr-copilot" if "MLR_CACHE_DIR" not in os.environ else base) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, data: Any) -> None:
    """Write atomically: a crash mid-write leaves the old file, never half of a new one."""
    import tempfile  # (with shutil, lzma...) a tenth of the start-up of the commands that only read

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False, default=str)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
