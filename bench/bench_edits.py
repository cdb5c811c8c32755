"""Time one try of an edit whose SEARCH matches nowhere: the matching and the "closest lines"
hint sent back to the LLM. The worst cases a hostile or confused reply can send:

- a 20,000-line SEARCH against a 25,000-line file;
- a 50-line SEARCH against a 2.8 MB file (70,000 lines);
- a 2,000-line SEARCH of one repeated line against a file of that same line (every window a
  candidate).

Each SEARCH differs from the file in every line, so no exact or whitespace-tolerant match
exists. Target: under 0.5 s per try (an implementation step makes up to 24 of them).

    python bench/bench_edits.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mlr_copilot.experiment.edit_blocks import EditNoMatchError, SearchReplace
from mlr_copilot.experiment.edits import apply_edits

TARGET_S = 0.5


def code_lines(count: int, salt: str = "") -> list[str]:
    return [f"    value_{i} = compute(batch_{i % 97}, rate={i % 13}){salt}" for i in range(count)]


def cases() -> list[tuple[str, list[str], list[str]]]:
    return [
        ("20k-line SEARCH, 25k-line file", code_lines(25_000), code_lines(20_000, "  # changed")),
        ("50-line SEARCH, 2.8 MB file", code_lines(70_000), code_lines(50, "  # changed")),
        ("2k identical lines vs a file of them", ["x = 1"] * 30_000, ["x = 1"] * 1_999 + ["y = 2"]),
    ]


def one_try(root: Path, lines: list[str], search: list[str]) -> tuple[float, str]:
    edit = SearchReplace(path="big.py", search="\n".join(search) + "\n", replace="pass\n")
    started = time.perf_counter()
    try:
        apply_edits(root, [edit])
    except EditNoMatchError as exc:
        return time.perf_counter() - started, str(exc).split("\n", 1)[0]
    return time.perf_counter() - started, "matched (unexpected)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlr-bench-edits-"))
    print(f"work folder: {root}")
    worst = 0.0
    for name, lines, search in cases():
        text = "\n".join(lines) + "\n"
        (root / "big.py").write_text(text)
        timings, said = zip(*(one_try(root, lines, search) for _ in range(args.repeat)))
        median = statistics.median(timings)
        worst = max(worst, max(timings))
        print(f"{name:<40} {len(text) / 1e6:5.1f} MB  median {median:7.3f} s  max {max(timings):7.3f} s")
        print(f"    {said[0][:110]}")
    verdict = "PASS" if worst < TARGET_S else "FAIL"
    print(f"worst try {worst:.3f} s, target < {TARGET_S} s: {verdict}")


if __name__ == "__main__":
    main()
