"""Downloads the IMDB movie-review set (Hugging Face dataset `stanfordnlp/imdb`) once and
writes data/train.jsonl and data/test.jsonl ({"text", "label"}; 1 = positive). Nothing
is written unless the whole download succeeds.

    python prepare.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

DATASET = "stanfordnlp/imdb"
DATA = Path(__file__).resolve().parent / "data"
FILES = ("train.jsonl", "test.jsonl")
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
    splits = load_dataset(DATASET)
    staging = Path(tempfile.mkdtemp(prefix=".data-", dir=DATA.parent))
    try:
        for name in FILES:
            split = splits[name.removesuffix(".jsonl")].select_columns(["text", "label"])
            split.to_json(staging / name)
        DATA.mkdir(exist_ok=True)
        for name in FILES:
            os.replace(staging / name, DATA / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {', '.join(FILES)} to {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
