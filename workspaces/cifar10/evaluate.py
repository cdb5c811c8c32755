"""Scores predicted classes against the test labels in data/cifar10.npz.

    python evaluate.py [predictions.csv]   -> writes results.json, prints METRIC accuracy=...
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

METRIC = "accuracy"
DATA = Path(__file__).resolve().parent / "data"
FILE = "cifar10.npz"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class EvaluationError(Exception):
    """Predictions or data that cannot be scored."""


def require_data() -> None:
    if not (DATA / FILE).is_file():
        sys.exit(f"data/{FILE} is missing: run python prepare.py once with network access (see README.md)")


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels); images are uint8 (N, 32, 32, 3)."""
    with np.load(DATA / FILE) as data:
        return data["x_train"], data["y_train"], data["x_test"], data["y_test"]


def read_predictions(path: Path, count: int) -> np.ndarray:
    if not path.is_file():
        raise EvaluationError(f"{path}: no such predictions file")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or [cell.strip() for cell in rows[0]] != ["id", "label"]:
        raise EvaluationError(f"{path}: the first line must be the header 'id,label'")
    predicted: dict[int, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        try:
            key, label = int(row[0]), int(row[1])
        except (IndexError, ValueError):
            raise EvaluationError(f"{path}: line {line}: expected an integer id and label, got {row}") from None
        if not 0 <= label < len(CLASSES):
            raise EvaluationError(f"{path}: line {line}: label {label} is outside 0..{len(CLASSES) - 1}")
        if not 0 <= key < count:
            raise EvaluationError(f"{path}: line {line}: id {key} is outside 0..{count - 1}")
        if key in predicted:
            raise EvaluationError(f"{path}: line {line}: id {key} appears twice")
        predicted[key] = label
    if len(predicted) != count:
        missing = sorted(set(range(count)) - predicted.keys())
        raise EvaluationError(f"{path}: {len(missing)} of {count} test ids have no prediction (first: {missing[0]})")
    return np.array([predicted[key] for key in range(count)])


def score(path: Path) -> float:
    *_, y_test = load_split()
    predicted = read_predictions(Path(path), len(y_test))
    return float(np.mean(predicted == y_test))


def report(path: Path, results: Path = Path("results.json")) -> float:
    value = score(path)
    results.write_text(json.dumps({METRIC: value}, indent=2) + "\n", encoding="utf-8")
    print(f"METRIC {METRIC}={value:.6f}")
    return value


def main(argv: list[str]) -> int:
    require_data()
    path = Path(argv[0]) if argv else Path("predictions.csv")
    try:
        report(path)
    except EvaluationError as exc:
        print(f"evaluate.py: cannot score: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
