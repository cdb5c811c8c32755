"""Candidate models and datasets for an experiment: the Hugging Face Hub when it can be
reached, and always what is already in the local Hugging Face cache.

Hub answers are cached on disk and retried with backoff when rate-limited (`hubapi.py`); when
the Hub cannot be reached the local cache (`hfcache.py`) is still proposed and a note says so. Models and datasets
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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlr_copilot.retrieval.cache import DEFAULT_TTL, AnswerCache
from mlr_copilot.retrieval.hfcache import local_candidates
from mlr_copilot.retrieval.hubapi import HubClient
from mlr_copilot.retrieval.model import Candidate, HubResult

log = logging.getLogger(__name__)

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


def _fit(candidate: Candidate, task: str, keywords: list[str]) -> float:
    haystack = " ".join([candidate.id.lower(), *(t.lower() for t in candidate.tags)])
    wanted = [k.lower().strip() for k in keywords if k.strip()]
    keyword_fit = sum(all(part in haystack for part in k.split()) for k in wanted) / len(wanted) if wanted else 0.0
    task_fit = 1.0 if task and any(t.lower() in (task.lower(), f"task_categories:{task.lower()}") for t in candidate.tags) else 0.0
    popularity = min(1.0, math.log10(candidate.downloads + 1) / 7) if candidate.downloads else 0.0
    # Already downloaded counts for something: it runs offline and costs no download.
    return round(0.5 * keyword_fit + 0.25 * task_fit + 0.25 * popularity + (0.1 if candidate.local else 0.0), 4)


def _within_size(ranked: list[Candidate], hub: HubClient | None, max_size_mb: int,
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

    hub: HubClient | None = None
    reason = _offline_reason(online, os.environ if environ is None else environ)
    if reason is None:
        if api is None:
            from huggingface_hub import HfApi  # the Hub's client only when it is asked

            api = HfApi()
        hub = HubClient(api, AnswerCache(Path(cache_dir), ttl=ttl), attempts, sleep)
        _add_listings(pool, hub, task, keywords, limit)
        reason = hub.down
    if reason is not None:
        if hub is not None and hub.used_stale:
            notes.append(f"Hugging Face Hub unreachable ({reason}); proposing its answers cached earlier and the local cache")
        else:
            notes.append(f"Hugging Face Hub unreachable ({reason}); only models and datasets in the local cache are proposed")
    return _ranked(pool, hub, task, keywords, max_size_mb, limit, notes)


def _add_listings(pool: dict[tuple[str, str], Candidate], hub: HubClient, task: str, keywords: list[str],
                  limit: int) -> None:
    """The Hub's listings for `task` and each of the first keywords, into `pool`: a local
    candidate takes the Hub's download count (and its tags, when it has none)."""
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


def _ranked(pool: dict[tuple[str, str], Candidate], hub: HubClient | None, task: str, keywords: list[str],
            max_size_mb: int, limit: int, notes: list[str]) -> HubResult:
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
