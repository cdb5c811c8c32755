"""Answers of network services kept on disk, so a repeated question costs no request and a
service that is down or rate-limiting can still be answered from an older copy."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlr_copilot.state import read_json, write_json

DEFAULT_TTL = 3 * 24 * 3600.0


@dataclass(frozen=True)
class Cached:
    value: Any
    saved_at: float
    fresh: bool


class AnswerCache:
    """JSON answers under `folder/<namespace>/<hash of the key>.json`, fresh for `ttl` seconds."""

    def __init__(self, folder: Path, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time):
        self.folder = Path(folder)
        self.ttl = ttl
        self._clock = clock

    def _path(self, namespace: str, key: Any) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        return self.folder / namespace / f"{digest[:32]}.json"

    def get(self, namespace: str, key: Any) -> Cached | None:
        try:
            data = read_json(self._path(namespace, key))
        except ValueError:
            return None
        if not isinstance(data, dict) or "value" not in data or not isinstance(data.get("saved_at"), (int, float)):
            return None
        age = self._clock() - data["saved_at"]
        return Cached(value=data["value"], saved_at=data["saved_at"], fresh=0 <= age < self.ttl)

    def put(self, namespace: str, key: Any, value: Any) -> None:
        write_json(self._path(namespace, key), {"saved_at": self._clock(), "key": key, "value": value})
