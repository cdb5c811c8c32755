"""Small stand-ins for each download task's data, in the exact form its prepare.py
writes (or, for ELLIPSE, the form a user puts in data/), so the baselines run end to end
with no network."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np

GOOD = ["great", "wonderful", "superb", "moving"]
BAD = ["awful", "boring", "dull", "clumsy"]
PLAIN = ["the", "film", "story", "actor", "scene", "plot", "music", "camera"]


def _sentence(rng: random.Random, words: list[str], size: int) -> str:
    return " ".join(rng.choice(words) for _ in range(size))


def imdb(folder: Path) -> None:
    rng = random.Random(1)
    data = folder / "data"
    data.mkdir()
    for split in ("train", "test"):
        with (data / f"{split}.jsonl").open("w") as handle:
            for index in range(200):
                label = index % 2
                text = _sentence(rng, PLAIN + (GOOD if label else BAD), 30)
                handle.write(json.dumps({"text": text, "label": label}) + "\n")


def semrel(folder: Path) -> None:
    rng = random.Random(2)
    data = folder / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        with (data / f"{split}.jsonl").open("w") as handle:
            for index in range(120):
                first = _sentence(rng, PLAIN + GOOD, 8)
                shared = rng.randint(0, 8)
                second = " ".join(first.split()[:shared] + _sentence(rng, BAD, 8 - shared).split())
                row = {"id": f"{split}-{index}", "sentence1": first, "sentence2": second, "score": shared / 8}
                handle.write(json.dumps(row) + "\n")


def ellipse(folder: Path) -> None:
    """Kaggle's train.csv layout, as a user would drop it into data/."""
    rng = random.Random(3)
    data = folder / "data"
    data.mkdir()
    measures = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]
    with (data / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text_id", "full_text", *measures])
        for index in range(150):
            size = rng.randint(40, 300)
            level = min(5.0, 1.0 + round(size / 75) / 2 + rng.choice([0, 0.5]))
            text = ". ".join(_sentence(rng, PLAIN + GOOD, 10) for _ in range(size // 10))
            writer.writerow([f"ESSAY{index:04d}", text, *[level] * len(measures)])


def babylm(folder: Path) -> None:
    rng = random.Random(4)
    for split, lines in (("train", 3000), ("dev", 300), ("test", 300)):
        target = folder / "data" / split
        target.mkdir(parents=True)
        for source in ("aochildes", "switchboard"):
            text = "\n".join(_sentence(rng, PLAIN, rng.randint(3, 12)) for _ in range(lines))
            (target / f"{source}.txt").write_text(text + "\n")


def cifar10(folder: Path) -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, 1200)
    images = (rng.integers(0, 40, (1200, 32, 32, 3)) + labels[:, None, None, None] * 20).astype(np.uint8)
    (folder / "data").mkdir()
    np.savez_compressed(folder / "data" / "cifar10.npz", x_train=images[:1000], y_train=labels[:1000],
                        x_test=images[1000:], y_test=labels[1000:])


MAKERS = {"imdb-sentiment": imdb, "semrel-2024": semrel, "ellipse-scoring": ellipse, "babylm": babylm,
          "cifar10": cifar10}
