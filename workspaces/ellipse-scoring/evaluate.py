"""Scores predicted essay scores against data/essays-test.csv by MCRMSE: the root mean
squared error of each of the six measures, averaged over the measures.

    python evaluate.py [predictions.csv]   -> writes results.json, prints METRIC mcrmse=...
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

METRIC = "mcrmse"
DATA = Path(__file__).resolve().parent / "data"
MEASURES = ("cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions")


class EvaluationError(Exception):
    """Predictions or data that cannot be scored."""


def require_data() -> None:
    for name in ("essays-train.csv", "essays-test.csv"):
        if not (DATA / name).is_file():
            sys.exit(f"data/{name} is missing: put the ELLIPSE files in data/ and run python prepare.py (see README.md)")


def read_split(name: str) -> list[dict]:
    """Essays of one split ("train" or "test"): id, text and the six scores as floats."""
    with (DATA / f"essays-{name}.csv").open(newline="", encoding="utf-8") as handle:
        return [{**row, **{m: float(row[m]) for m in MEASURES}} for row in csv.DictReader(handle)]


def read_predictions(path: Path, ids: list[str]) -> dict[str, list[float]]:
    if not path.is_file():
        raise EvaluationError(f"{path}: no such predictions file")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = ["id", *MEASURES]
    if not rows or [cell.strip() for cell in rows[0]] != header:
        raise EvaluationError(f"{path}: the first line must be the header '{','.join(header)}'")
    known = set(ids)
    predicted: dict[str, list[float]] = {}
    for line, row in enumerate(rows[1:], start=2):
        try:
            key, values = row[0], [float(cell) for cell in row[1:]]
        except (IndexError, ValueError):
            raise EvaluationError(f"{path}: line {line}: expected an essay id and six numbers, got {row}") from None
        if len(values) != len(MEASURES) or not all(math.isfinite(value) for value in values):
            raise EvaluationError(f"{path}: line {line}: expected six finite scores, got {row[1:]}")
        if key not in known:
            raise EvaluationError(f"{path}: line {line}: '{key}' is not a test essay id")
        if key in predicted:
            raise EvaluationError(f"{path}: line {line}: id '{key}' appears twice")
        predicted[key] = values
    missing = [key for key in ids if key not in predicted]
    if missing:
        raise EvaluationError(f"{path}: {len(missing)} of {len(ids)} test essays have no scores (first: {missing[0]})")
    return predicted


def score(path: Path) -> float:
    test = read_split("test")
    predicted = read_predictions(Path(path), [essay["id"] for essay in test])
    errors = []
    for column, measure in enumerate(MEASURES):
        squared = [(predicted[essay["id"]][column] - essay[measure]) ** 2 for essay in test]
        errors.append(math.sqrt(sum(squared) / len(squared)))
    return sum(errors) / len(errors)


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
