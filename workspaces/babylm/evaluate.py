"""Scores a language model by word-level perplexity on a fixed sample of the test text.

The sample is the first LINES_PER_FILE non-empty lines of each file in data/test/. The
model reports, for each sample line, the natural-log probability it gives to the line's
text; perplexity is exp(-total log probability / number of whitespace-separated words).
Normalising by words rather than by the model's own tokens keeps models with different
tokenisers comparable.

    python evaluate.py [predictions.csv]   -> writes results.json, prints METRIC perplexity=...
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

METRIC = "perplexity"
DATA = Path(__file__).resolve().parent / "data"
SPLITS = ("train", "dev", "test")
LINES_PER_FILE = 200


class EvaluationError(Exception):
    """Predictions or data that cannot be scored."""


def require_data() -> None:
    for split in SPLITS:
        folder = DATA / split
        if not folder.is_dir() or not any(folder.iterdir()):
            sys.exit(f"data/{split}/ is missing or empty: run python prepare.py once with network access (see README.md)")


def text_files(split: str) -> list[Path]:
    return sorted(path for path in (DATA / split).iterdir() if path.is_file())


def evaluation_lines() -> list[str]:
    lines: list[str] = []
    for path in text_files("test"):
        taken = 0
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if taken == LINES_PER_FILE:
                    break
                if line.strip():
                    lines.append(line.rstrip("\n"))
                    taken += 1
    return lines


def read_predictions(path: Path, count: int) -> list[float]:
    if not path.is_file():
        raise EvaluationError(f"{path}: no such predictions file")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or [cell.strip() for cell in rows[0]] != ["id", "logprob"]:
        raise EvaluationError(f"{path}: the first line must be the header 'id,logprob'")
    predicted: dict[int, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        try:
            key, value = int(row[0]), float(row[1])
        except (IndexError, ValueError):
            raise EvaluationError(f"{path}: line {line}: expected a line id and a log probability, got {row}") from None
        if not math.isfinite(value) or value > 0:
            raise EvaluationError(f"{path}: line {line}: log probability {row[1]} must be finite and at most 0")
        if not 0 <= key < count:
            raise EvaluationError(f"{path}: line {line}: id {key} is outside 0..{count - 1}")
        if key in predicted:
            raise EvaluationError(f"{path}: line {line}: id {key} appears twice")
        predicted[key] = value
    if len(predicted) != count:
        missing = sorted(set(range(count)) - predicted.keys())
        raise EvaluationError(f"{path}: {len(missing)} of {count} lines have no log probability (first: {missing[0]})")
    return [predicted[key] for key in range(count)]


def score(path: Path) -> float:
    lines = evaluation_lines()
    if not lines:
        raise EvaluationError("data/test/ holds no text to score")
    logprobs = read_predictions(Path(path), len(lines))
    words = sum(len(line.split()) for line in lines)
    return math.exp(-sum(logprobs) / max(words, 1))


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
