"""Baseline: one unpruned decision tree on all ten measurements."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from sklearn.tree import DecisionTreeRegressor

from evaluate import load_split, report


def seed_argument(argv: list[str]) -> int:
    """The model's random seed: `--seed N` (a search re-runs its winner with several), else 0.
    The train/test split stays fixed whatever the seed."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--seed", type=int, default=0)
    return int(parser.parse_known_args(argv)[0].seed)


SEED = seed_argument(sys.argv[1:])


def main() -> None:
    x_train, y_train, x_test, _ = load_split()
    model = DecisionTreeRegressor(random_state=SEED)
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)

    path = Path("predictions.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prediction"])
        writer.writerows((key, f"{value:.6f}") for key, value in enumerate(predicted))
    report(path)


if __name__ == "__main__":
    main()
