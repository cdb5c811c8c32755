"""Scores predicted relatedness against the gold scores of data/test.jsonl by Spearman
rank correlation, the measure of SemEval 2024 Task 1.

    python evaluate.py [predictions.csv]   -> writes results.json, prints METRIC spearman=...
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

from scipy.stats import spearmanr

METRIC = "spearman"
DATA = Path(__file__).resolve().parent / "data"


class EvaluationError(Exception):
    """Predictions or data that cannot be scored."""


def require_data() -> None:
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
        if not (DATA / name).is_file():
            sys.exit(f"data/{name} is missing: run python prepare.py once with network access (see README.md)")


def read_split(name: str) -> list[dict]:
    """Pairs of one split: dicts with id, sentence1, sentence2 and the gold score."""
    with (DATA / f"{name}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_predictions(path: Path, ids: list[str]) -> list[float]:
    if not path.is_file():
        raise EvaluationError(f"{path}: no such predictions file")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or [cell.strip() for cell in rows[0]] != ["id", "score"]:
        raise EvaluationError(f"{path}: the first line must be the header 'id,score'")
    known = set(ids)
    predicted: dict[str, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        try:
            key, value = row[0], float(row[1])
        except (IndexError, ValueError):
            raise EvaluationError(f"{path}: line {line}: expected a pair id and a number, got {row}") from None
        if not math.isfinite(value):
            raise EvaluationError(f"{path}: line {line}: score {row[1]} is not a finite number")
        if key not in known:
            raise EvaluationError(f"{path}: line {line}: '{key}' is not a test pair id")
        if key in predicted:
            raise EvaluationError(f"{path}: line {line}: id '{key}' appears twice")
        predicted[key] = value
    missing = [key for key in ids if key not in predicted]
    if missing:
        raise EvaluationError(f"{path}: {len(missing)} of {len(ids)} test pairs have no score (first: {missing[0]})")
    return [predicted[key] for key in ids]


def score(path: Path) -> float:
    test = read_split("test")
    predicted = read_predictions(Path(path), [pair["id"] for pair in test])
    if len(set(predicted)) < 2:
        raise EvaluationError(f"{path}: every pair has the same score, so there is no ranking to compare")
    return float(spearmanr(predicted, [pair["score"] for pair in test]).statistic)


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
