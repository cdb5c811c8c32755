"""Downloads the BabyLM strict-small text (Hugging Face dataset `cambridge-climb/BabyLM`:
the 10M-word training set and the dev and test sets, one plain-text file per source) once
and writes them to data/train/, data/dev/ and data/test/. Nothing is written unless the
whole download succeeds.

    python prepare.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import PurePosixPath, Path

DATASET = "cambridge-climb/BabyLM"
DATA = Path(__file__).resolve().parent / "data"
# our split name -> the folder name the dataset uses for it
SPLITS = {"train": "10M", "dev": "dev", "test": "test"}
TEXT_SUFFIXES = {".txt", ".train", ".dev", ".test"}
OFFLINE = ("cannot reach the Hugging Face Hub; this task needs its data downloaded once: "
           "run python prepare.py with network access, or put the files in data/ "
           "(plain-text files in data/train/, data/dev/ and data/test/)")


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


def have_data() -> bool:
    return all((DATA / split).is_dir() and any((DATA / split).iterdir()) for split in SPLITS)


def pick(files: list[str], folder: str) -> list[str]:
    """The text files of the shallowest folder named `folder`: the repository may hold
    the same split more than once (say, an original and a cleaned copy)."""
    parents: dict[PurePosixPath, list[str]] = {}
    for name in files:
        path = PurePosixPath(name)
        if path.parent.name == folder and path.suffix in TEXT_SUFFIXES:
            parents.setdefault(path.parent, []).append(name)
    if not parents:
        sys.exit(f"prepare.py: {DATASET} has no text files in a folder named {folder}/")
    best = min(parents, key=lambda parent: (len(parent.parts), str(parent)))
    return sorted(parents[best])


def main() -> int:
    if have_data():
        print(f"data/ already holds {', '.join(SPLITS)}")
        return 0
    if not hub_reachable(DATASET):
        print(f"prepare.py: {OFFLINE}", file=sys.stderr)
        return 1
    from huggingface_hub import HfApi, hf_hub_download

    files = HfApi().list_repo_files(DATASET, repo_type="dataset")
    staging = Path(tempfile.mkdtemp(prefix=".data-", dir=DATA.parent))
    try:
        for split, folder in SPLITS.items():
            (staging / split).mkdir()
            for name in pick(files, folder):
                cached = hf_hub_download(DATASET, name, repo_type="dataset")
                shutil.copyfile(cached, staging / split / PurePosixPath(name).name)
        DATA.mkdir(exist_ok=True)
        for split in SPLITS:
            shutil.rmtree(DATA / split, ignore_errors=True)
            os.replace(staging / split, DATA / split)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {', '.join(SPLITS)} to {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
