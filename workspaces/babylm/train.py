"""Baseline: a byte-level bigram model with add-one smoothing, counted on the first
megabyte of each training file. Each line is scored from a start-of-line state."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from evaluate import evaluation_lines, report, require_data, text_files

START = 256  # the state before a line's first byte
BYTES_PER_FILE = 1_000_000


def encode(line: str) -> np.ndarray:
    return np.frombuffer(line.encode("utf-8"), dtype=np.uint8).astype(np.int64)


def transitions(line: str) -> tuple[np.ndarray, np.ndarray]:
    data = encode(line)
    return np.concatenate(([START], data[:-1])), data


def train_counts() -> np.ndarray:
    previous, current = [], []
    for path in text_files("train"):
        with path.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(BYTES_PER_FILE)
        for line in text.splitlines():
            if line.strip():
                before, after = transitions(line)
                previous.append(before)
                current.append(after)
    pairs = np.concatenate(previous) * 256 + np.concatenate(current)
    return np.bincount(pairs, minlength=257 * 256).reshape(257, 256).astype(np.float64) + 1.0


def main() -> None:
    require_data()
    counts = train_counts()
    log_probs = np.log(counts / counts.sum(axis=1, keepdims=True))
    path = Path("predictions.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "logprob"])
        for key, line in enumerate(evaluation_lines()):
            previous, current = transitions(line)
            writer.writerow([key, f"{log_probs[previous, current].sum():.6f}"])
    report(path)


if __name__ == "__main__":
    main()
