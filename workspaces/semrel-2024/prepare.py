"""Downloads the English part of SemRel 2024 (Hugging Face dataset `SemRel/SemRel2024`,
configuration `eng`) once and writes data/train.jsonl, data/dev.jsonl and data/test.jsonl,
one {"id", "sentence1", "sentence2", "score"} object a line. Nothing is written unless
the whole download succeeds.

    python prepare.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

DATASET = "SemRel/SemRel2024"
CONFIG = "eng"
DATA = Path(__file__).resolve().parent / "data"
SPLITS = ("train", "dev", "test")
FILES = tuple(f"{split}.jsonl" for split in SPLITS)
OFFLINE = ("cannot reach the Hugging Face Hub; this task needs its data downloaded once: "
           "run python prepare.py with network access, or put the files in data/ ({files})")


def hub_reachable(repo_id: str) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        HfApi().dataset_info(repo_id, timeout=15)
    except RepositoryNotFoundError:
        sys.exit(f"prepare.py: the Hub has no dataset {repo_id}")
    except Exception:  # any transport failure means the same thing here: no Hub
        return False
    return True


def pairs(rows: list[dict], split: str) -> list[dict]:
    """Rows in our shape. The published files name the columns sentence1/sentence2/label;
    the original shared-task files put both sentences in `Text` and the gold in `Score`."""
    out = []
    for index, row in enumerate(rows):
        if "sentence1" in row:
            first, second = row["sentence1"], row["sentence2"]
        else:
            first, second = row["Text"].split("\n", 1)
        score = row.get("label", row.get("Score"))
        if score is None:
            sys.exit(f"prepare.py: {DATASET} {split} row {index} has no gold score")
        key = row.get("PairID") or row.get("pair_id") or f"{split}-{index}"
        out.append({"id": key, "sentence1": first, "sentence2": second, "score": float(score)})
    return out


def main() -> int:
    if all((DATA / name).is_file() for name in FILES):
        print(f"data/ already holds {', '.join(FILES)}")
        return 0
    if not hub_reachable(DATASET):
        print(f"prepare.py: {OFFLINE.format(files=', '.join(FILES))}", file=sys.stderr)
        return 1
    try:
        from datasets import load_dataset
    except ImportError:
        print("prepare.py: this step needs the datasets library: pip install datasets", file=sys.stderr)
        return 1
    loaded = load_dataset(DATASET, CONFIG)
    staging = Path(tempfile.mkdtemp(prefix=".data-", dir=DATA.parent))
    try:
        for split, name in zip(SPLITS, FILES):
            with (staging / name).open("w", encoding="utf-8") as handle:
                for row in pairs(list(loaded[split]), split):
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        DATA.mkdir(exist_ok=True)
        for name in FILES:
            os.replace(staging / name, DATA / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {', '.join(FILES)} to {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
