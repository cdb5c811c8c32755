"""The models and datasets already in the local Hugging Face cache: proposed whether or not the
Hub can be reached, since they run offline and cost no download."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from mlr_copilot.retrieval.model import MB, Candidate

log = logging.getLogger(__name__)


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
    from huggingface_hub import scan_cache_dir  # the Hub library (HTTP clients) only when asked
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
