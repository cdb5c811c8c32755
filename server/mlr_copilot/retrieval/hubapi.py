"""Listings and download sizes from the Hugging Face Hub: cached on disk, retried with backoff
when rate-limited, and given up for the session once the Hub is found unusable (`HubClient.down`
says why)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from mlr_copilot.retrieval.backoff import (
    RETRYABLE_STATUS,
    RetryLater,
    parse_retry_after,
    with_backoff,
)
from mlr_copilot.retrieval.cache import AnswerCache
from mlr_copilot.retrieval.model import MB

log = logging.getLogger(__name__)

MODEL_EXPAND = ["downloads", "tags", "pipeline_tag", "library_name", "safetensors"]
DATASET_EXPAND = ["downloads", "tags", "mainSize"]
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf")
_UNREACHABLE_NAMES = frozenset(
    {"ConnectError", "ConnectionError", "ConnectTimeout", "TimeoutException", "Timeout", "ReadTimeout",
     "NetworkError", "TransportError", "OfflineModeIsEnabled"}
)


class _HubDown(Exception):
    """The Hub cannot be used now; the message says why."""


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _call(fn: Callable[[], Any], attempts: int, sleep: Callable[[float], None]) -> Any:
    """`fn()` with backoff on 429/5xx; failures that mean "no Hub now" become _HubDown."""

    def attempt() -> Any:
        try:
            return fn()
        except Exception as exc:
            status = _status(exc)
            if status in RETRYABLE_STATUS:
                headers = getattr(getattr(exc, "response", None), "headers", None) or {}
                raise RetryLater(f"HTTP {status}", parse_retry_after(headers.get("Retry-After"))) from exc
            raise

    try:
        return with_backoff(attempt, attempts=attempts, sleep=sleep)
    except RetryLater as exc:
        raise _HubDown(f"rate-limited or down: {exc.reason}") from exc
    except Exception as exc:
        names = {cls.__name__ for cls in type(exc).__mro__}
        if names & _UNREACHABLE_NAMES:
            raise _HubDown("HF_HUB_OFFLINE is set" if "OfflineModeIsEnabled" in names else "no connection") from exc
        if _status(exc) is not None:
            raise _HubDown(f"answered HTTP {_status(exc)}") from exc
        if isinstance(exc, OSError):
            raise _HubDown(f"no connection ({exc})") from exc
        raise


def _safetensors_mb(info: Any) -> float | None:
    params = getattr(getattr(info, "safetensors", None), "parameters", None)
    if not isinstance(params, dict) or not params:
        return None
    return round(float(sum(count * _DTYPE_BYTES.get(dtype, 1) for dtype, count in params.items())) / MB, 1)


def weights_mb(files: Iterable[tuple[str, int | None]]) -> float | None:
    """Size of one copy of the weights: repositories often ship the same weights in several
    formats, so the first format present in `_WEIGHT_SUFFIXES` order is counted alone, and
    GGUF files are alternative quantisations, so the smallest one counts."""
    by_format: dict[str, int] = {}
    total = 0
    for name, size in files:
        if size is None:
            continue
        total += size
        suffix = next((s for s in _WEIGHT_SUFFIXES if name.endswith(s)), None)
        if suffix == ".gguf":
            by_format[suffix] = min(by_format.get(suffix, size), size)
        elif suffix is not None:
            by_format[suffix] = by_format.get(suffix, 0) + size
    if suffix_sizes := [by_format[s] for s in _WEIGHT_SUFFIXES if s in by_format]:
        return round(suffix_sizes[0] / MB, 1)
    return round(total / MB, 1) if total else None


def _as_entry(info: Any, kind: str) -> dict[str, Any]:
    tags = [str(t) for t in getattr(info, "tags", None) or []]
    pipeline = getattr(info, "pipeline_tag", None)
    if pipeline and pipeline not in tags:
        tags.insert(0, pipeline)
    if kind == "model":
        size = _safetensors_mb(info)
    else:
        main_size = getattr(info, "main_size", None)
        size = round(main_size / MB, 1) if isinstance(main_size, int) else None
    return {"id": info.id, "downloads": getattr(info, "downloads", None), "tags": tags, "size_mb": size}


class HubClient:
    """Cached, retried listings from the Hub; stops asking once the Hub is found unusable."""

    def __init__(self, api: Any, cache: AnswerCache, attempts: int, sleep: Callable[[float], None]):
        self.api = api
        self.cache = cache
        self.attempts = attempts
        self.sleep = sleep
        self.down: str | None = None
        self.used_stale = False

    def _cached(self, namespace: str, key: dict[str, Any], fetch: Callable[[], Any]) -> Any:
        cached = self.cache.get(namespace, key)
        if cached is not None and cached.fresh:
            return cached.value
        if self.down is None:
            try:
                value = _call(fetch, self.attempts, self.sleep)
            except _HubDown as exc:
                self.down = str(exc)
                log.info("Hugging Face Hub: %s", exc)
            else:
                self.cache.put(namespace, key, value)
                return value
        if cached is not None:
            self.used_stale = True
            return cached.value
        return None

    def listing(self, kind: str, task: str, search: str | None, limit: int) -> list[dict[str, Any]]:
        key = {"task": task, "search": search, "limit": limit}
        if kind == "model":
            def fetch() -> Any:
                found = self.api.list_models(search=search, filter=task or None, sort="downloads", limit=limit,
                                             expand=MODEL_EXPAND)
                return [_as_entry(info, "model") for info in found]
        else:
            def fetch() -> Any:
                found = self.api.list_datasets(search=search, task_categories=task or None, sort="downloads",
                                               limit=limit, expand=DATASET_EXPAND)
                return [_as_entry(info, "dataset") for info in found]
        return self._cached(f"hub-{kind}s", key, fetch) or []

    def size(self, kind: str, repo_id: str) -> float | None:
        """Download size in MB: one copy of a model's weights, all of a dataset's files."""
        def fetch() -> Any:
            if kind == "model":
                info = self.api.model_info(repo_id, files_metadata=True)
                return {"size_mb": weights_mb((s.rfilename, s.size) for s in info.siblings or [])}
            info = self.api.dataset_info(repo_id, files_metadata=True)
            total = sum(s.size or 0 for s in info.siblings or [])
            return {"size_mb": round(total / MB, 1) if total else None}

        answer = self._cached(f"hub-{kind}-size", {"id": repo_id}, fetch)
        return answer.get("size_mb") if isinstance(answer, dict) else None
