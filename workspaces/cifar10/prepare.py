"""Downloads CIFAR-10 (Hugging Face dataset `uoft-cs/cifar10`) once and writes
data/cifar10.npz with uint8 image arrays (N, 32, 32, 3) and integer labels:
x_train, y_train (50,000) and x_test, y_test (10,000). Nothing is written unless the
whole download succeeds.

    python prepare.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

DATASET = "uoft-cs/cifar10"
DATA = Path(__file__).resolve().parent / "data"
FILE = "cifar10.npz"
OFFLINE = ("cannot reach the Hugging Face Hub; this task needs its data downloaded once: "
           "run python prepare.py with network access, or put the files in data/ "
           f"({FILE} with x_train, y_train, x_test, y_test)")


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


def arrays(split) -> tuple[np.ndarray, np.ndarray]:
    images = np.stack([np.asarray(image.convert("RGB"), dtype=np.uint8) for image in split["img"]])
    return images, np.asarray(split["label"], dtype=np.int64)


def main() -> int:
    if (DATA / FILE).is_file():
        print(f"data/ already holds {FILE}")
        return 0
    if not hub_reachable(DATASET):
        print(f"prepare.py: {OFFLINE}", file=sys.stderr)
        return 1
    try:
        from datasets import load_dataset
    except ImportError:
        print("prepare.py: this step needs the datasets library: pip install datasets", file=sys.stderr)
        return 1
    loaded = load_dataset(DATASET)
    x_train, y_train = arrays(loaded["train"])
    x_test, y_test = arrays(loaded["test"])
    DATA.mkdir(exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".cifar10-", suffix=".npz", dir=DATA)
    os.close(handle)
    try:
        np.savez_compressed(staging, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        os.replace(staging, DATA / FILE)
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    print(f"wrote {FILE} ({len(y_train)} training and {len(y_test)} test images) to {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
