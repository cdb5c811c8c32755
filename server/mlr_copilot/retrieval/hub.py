"""Candidate models and datasets for an experiment: the Hugging Face Hub when it can be
reached, and always what is already in the local Hugging Face cache.

Hub answers are cached on disk and retried with backoff when rate-limited; when the Hub
cannot be reached the local cache is still proposed and a note says so. Models and datasets
larger than the size limit are left out (with a note), since the sandbox would have to
download and load them.

The search is by Hub pipeline tag; `pipeline_tag_for` maps a research task described in
words (the paper's task, the hypothesis's problem) to one.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mlr_copilot.retrieval.backoff import (
    RETRYABLE_STATUS,
    RetryLater,
    parse_retry_after,
    with_backoff,
)
from mlr_copilot.retrieval.cache import DEFAULT_TTL, AnswerCache

log = logging.getLogger(__name__)

MB = 1024 * 1024
MODEL_EXPAND = ["downloads", "tags", "pipeline_tag", "library_name", "safetensors"]
DATASET_EXPAND = ["downloads", "tags", "mainSize"]
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf")
_UNREACHABLE_NAMES = frozenset(
    {"ConnectError", "ConnectionError", "ConnectTimeout", "TimeoutException", "Timeout", "ReadTimeout",
     "NetworkError", "TransportError", "OfflineModeIsEnabled"}
)
_TRUE = {"1", "true", "yes", "on"}
# The Hub's pipeline tags: a task outside this set (say a dataset name) filters everything
# out on the Hub, so it is searched for as a keyword instead.
PIPELINE_TAGS = frozenset(
    ["text-classification", "token-classification", "table-question-answering", "question-answering", "zero-shot-classification", "translation", "summarization", "feature-extraction", "text-generation", "text2text-generation", "fill-mask", "sentence-similarity", "text-ranking", "text-retrieval", "text-to-speech", "text-to-audio", "automatic-speech-recognition", "audio-to-audio", "audio-classification", "audio-text-to-text", "voice-activity-detection", "depth-estimation", "image-classification", "object-detection", "image-segmentation", "text-to-image", "image-to-text", "image-to-image", "image-to-video", "unconditional-image-generation", "video-classification", "reinforcement-learning", "robotics", "tabular-classification", "tabular-regression", "tabular-to-text", "table-to-text", "multiple-choice", "time-series-forecasting", "text-to-video", "image-text-to-text", "visual-question-answering", "document-question-answering", "zero-shot-image-classification", "graph-ml", "mask-generation", "zero-shot-object-detection", "text-to-3d", "image-to-3d", "image-feature-extraction", "video-text-to-text", "keypoint-detection", "any-to-any", "visual-document-retrieval", "video-to-video"]
)
# A research task in words → the Hub pipeline tag its models and datasets carry. Checked in
# order, the more specific first, each within one sentence.
_TASK_RULES = [
    (tag, re.compile(pattern, re.IGNORECASE))
    for tag, pattern in [
        ("automatic-speech-recognition", r"speech recognition|\basr\b|speech[- ]to[- ]text|transcrib"),
        ("audio-classification", r"(audio|sound)\b[^.]*classif|classif[^.]*\b(audio|sounds?)\b|keyword spotting"),
        ("object-detection", r"object detection|detect\w* objects|bounding box"),
        ("image-segmentation", r"(image|semantic|instance|panoptic) segmentation"),
        ("zero-shot-image-classification", r"zero[- ]shot image classif"),
        ("image-classification", r"image classif|classif\w* (of )?(images|photos|pictures)|\b(cifar|imagenet|mnist)\b"),
        ("token-classification", r"named[- ]entit|\bner\b|token classif|part[- ]of[- ]speech|\bpos tagg|sequence label"),
        ("question-answering", r"question answering|\bqa\b|reading comprehension"),
        ("summarization", r"summari[sz]"),
        ("translation", r"machine translation|\btranslat"),
        ("sentence-similarity", r"sentence similarity|semantic (textual )?similarity|sentence embedding"),
        ("text-classification",
         r"sentiment|text classif|natural language inference|\bnli\b|entailment|spam|topic classif"
         r"|classif[^.]*\b(texts?|reviews?|sentences?|documents?|tweets?|posts?|news|comments?|e-?mails?|messages?)\b"
         r"|\b(texts?|reviews?|sentences?|documents?|tweets?|posts?|comments?|e-?mails?|messages?)\b[^.]*classif"),
        ("time-series-forecasting", r"time[- ]series|forecast"),
        ("tabular-classification", r"tabular"),
        ("text-generation", r"language model|text generation|generat\w* text"),
        ("reinforcement-learning", r"reinforcement learning"),
    ]
]


class Candidate(BaseModel):
    id: str
    kind: Literal["model", "dataset"]
    downloads: int | None = None
    size_mb: float | None = None
    local: bool = False
    tags: list[str] = Field(default_factory=list)
    score: float = 0.0


class HubResult(BaseModel):
    models: list[Candidate] = Field(default_factory=list)
    datasets: list[Candidate] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class _HubDown(Exception):
    """The Hub cannot be used now; the message says why."""


def hf_cache_location() -> Path:
    """The Hugging Face cache folder, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def _front_matter(readme: Path) -> dict[str, list[str]]:
    """`key: value` and `- item` lists from the YAML header of a model or dataset card."""
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    if not text.startswith("---"):
        return {}
    header = text[3:].split("\n---", 1)[0]
    fields: dict[str, list[str]] = {}
    current: str | None = None
    for line in header.splitlines():
        item = re.match(r"^\s*-\s+(.+)$", line)
        pair = re.match(r"^([A-Za-z_]+):\s*(.*)$", line)
        if item and current:
            fields[current].append(item.group(1).strip().strip("'\""))
        elif pair:
            current = pair.group(1)
            value = pair.group(2).strip().strip("'\"")
            fields[current] = [value] if value else []
    return fields


def _local_tags(snapshot: Path, kind: str) -> list[str]:
    card = _front_matter(snapshot / "README.md")
    if kind == "model":
        return [*card.get("pipeline_tag", []), *card.get("library_name", []), *card.get("tags", [])]
    return [f"task_categories:{t}" for t in card.get("task_categories", [])] + card.get("tags", [])


def local_candidates(hf_cache_dir: Path | None = None) -> list[Candidate]:
    """Every model and dataset in the local Hugging Face cache; none when there is no cache."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    folder = Path(hf_cache_dir) if hf_cache_dir is not None else hf_cache_location()
    try:
        info = scan_cache_dir(folder)
    except (CacheNotFound, OSError) as exc:
        log.info("no usable Hugging Face cache at %s (%s)", folder, exc)
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type not in ("model", "dataset"):
            continue
        newest = max(repo.revisions, key=lambda r: r.last_modified, default=None)
        tags = _local_tags(newest.snapshot_path, repo.repo_type) if newest is not None else []
        found.append(
            Candidate(id=repo.repo_id, kind=repo.repo_type, size_mb=round(repo.size_on_disk / MB, 1), local=True, tags=tags)
        )
    return found


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
    return round(sum(count * _DTYPE_BYTES.get(dtype, 1) for dtype, count in params.items()) / MB, 1)


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


def _fit(candidate: Candidate, task: str, keywords: list[str]) -> float:
    haystack = " ".join([candidate.id.lower(), *(t.lower() for t in candidate.tags)])
    wanted = [k.lower().strip() for k in keywords if k.strip()]
    keyword_fit = sum(all(part in haystack for part in k.split()) for k in wanted) / len(wanted) if wanted else 0.0
    task_fit = 1.0 if task and any(t.lower() in (task.lower(), f"task_categories:{task.lower()}") for t in candidate.tags) else 0.0
    popularity = min(1.0, math.log10(candidate.downloads + 1) / 7) if candidate.downloads else 0.0
    # Already downloaded counts for something: it runs offline and costs no download.
    return round(0.5 * keyword_fit + 0.25 * task_fit + 0.25 * popularity + (0.1 if candidate.local else 0.0), 4)


class _Hub:
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


def _within_size(ranked: list[Candidate], hub: _Hub | None, max_size_mb: int,
                 limit: int) -> tuple[list[Candidate], list[str]]:
    """The best `limit` of `ranked` no larger than `max_size_mb`, and the ids left out for size.
    A size the listing did not give is asked of the Hub for each candidate that could be kept."""
    kept: list[Candidate] = []
    too_big: list[str] = []
    for candidate in ranked:
        if len(kept) == limit:
            break
        if candidate.size_mb is None and not candidate.local and hub is not None:
            candidate = candidate.model_copy(update={"size_mb": hub.size(candidate.kind, candidate.id)})
        if candidate.size_mb is not None and candidate.size_mb > max_size_mb:
            too_big.append(candidate.id)
        else:
            kept.append(candidate)
    return kept, too_big


def pipeline_tag_for(*texts: str) -> str:
    """The Hub pipeline tag of the first of `texts` that names a task, or "" for none: a
    tag of several words written out ("text classification") first, then the usual wordings
    of each task (a lone word such as "translation" may mean something else)."""
    for text in texts:
        words = re.sub(r"[\s_]+", "-", text.strip().lower())
        named = [tag for tag in PIPELINE_TAGS
                 if "-" in tag and re.search(rf"(?<![\w-]){re.escape(tag)}(?![\w-])", words)]
        if named:
            return max(named, key=len)
        for tag, rule in _TASK_RULES:
            if rule.search(text):
                return tag
    return ""


def _offline_reason(online: bool, environ: Mapping[str, str]) -> str | None:
    if not online:
        return "offline mode"
    if environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return "HF_HUB_OFFLINE is set"
    return None


def candidates(
    task: str,
    keywords: list[str],
    *,
    online: bool,
    max_size_mb: int,
    cache_dir: Path,
    api: Any = None,
    hf_cache_dir: Path | None = None,
    limit: int = 10,
    attempts: int = 3,
    ttl: float = DEFAULT_TTL,
    sleep: Callable[[float], None] = time.sleep,
    environ: Mapping[str, str] | None = None,
) -> HubResult:
    """Models and datasets for `task` (a Hub pipeline tag such as "text-classification"; any
    other text counts as a keyword) that fit `keywords`, best first; local ones are marked,
    models and datasets over `max_size_mb` left out. `environ` (default: the process's) may
    say HF_HUB_OFFLINE."""
    task = re.sub(r"[\s_]+", "-", task.strip().lower())
    if task and task not in PIPELINE_TAGS:
        log.info("'%s' is not a Hub pipeline tag; searching for it as a keyword", task)
        keywords, task = [task, *keywords], ""
    keywords = list(dict.fromkeys(k.strip() for k in keywords if k.strip()))
    notes: list[str] = []
    pool: dict[tuple[str, str], Candidate] = {(c.kind, c.id): c for c in local_candidates(hf_cache_dir)}

    hub: _Hub | None = None
    reason = _offline_reason(online, os.environ if environ is None else environ)
    if reason is None:
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi()
        hub = _Hub(api, AnswerCache(Path(cache_dir), ttl=ttl), attempts, sleep)
        for kind in ("model", "dataset"):
            for search in [None, *keywords[:3]]:
                for entry in hub.listing(kind, task, search, limit):
                    key = (kind, entry["id"])
                    if key in pool:
                        local = pool[key]
                        pool[key] = local.model_copy(update={"downloads": entry["downloads"],
                                                             "tags": local.tags or entry["tags"]})
                    else:
                        pool[key] = Candidate(id=entry["id"], kind=kind, downloads=entry["downloads"],
                                              size_mb=entry["size_mb"], tags=entry["tags"])
        reason = hub.down
    if reason is not None:
        if hub is not None and hub.used_stale:
            notes.append(f"Hugging Face Hub unreachable ({reason}); proposing its answers cached earlier and the local cache")
        else:
            notes.append(f"Hugging Face Hub unreachable ({reason}); only models and datasets in the local cache are proposed")

    scored = sorted(
        (c.model_copy(update={"score": _fit(c, task, keywords)}) for c in pool.values()),
        key=lambda c: (-c.score, -(c.downloads or 0), c.id),
    )
    found: dict[str, list[Candidate]] = {}
    for kind in ("model", "dataset"):
        found[kind], too_big = _within_size([c for c in scored if c.kind == kind], hub, max_size_mb, limit)
        if too_big:
            notes.append(f"left out {len(too_big)} {kind}(s) over {max_size_mb} MB: {', '.join(too_big)}")
    return HubResult(models=found["model"], datasets=found["dataset"], notes=notes)
