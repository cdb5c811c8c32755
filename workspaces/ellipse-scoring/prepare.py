"""Readies the ELLIPSE essays. The corpus has no copy on the Hugging Face Hub, so the
source files are fetched by hand (see README.md) and put in data/; this script finds them,
checks their columns and writes a fixed 80/20 split as data/essays-train.csv and
data/essays-test.csv. Nothing is written unless every check passes.

    python prepare.py
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
OUTPUTS = ("essays-train.csv", "essays-test.csv")
MEASURES = ("cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions")
TEXT_COLUMNS = ("full_text", "text")
ID_COLUMNS = ("text_id", "text_id_kaggle", "id")
SEED = 0
TEST_SHARE = 0.2
MISSING = ("the ELLIPSE essays are not in data/ and have no copy on the Hugging Face Hub; "
           "this task needs its data downloaded once: get the ELLIPSE corpus CSV "
           "(github.com/scrosseye/ELLIPSE-Corpus) or train.csv of the Kaggle competition "
           "'Feedback Prize - English Language Learning', put the files in data/, "
           "then run python prepare.py again")


class SourceError(Exception):
    """A source file that is not an ELLIPSE table."""


def read_source(path: Path) -> list[dict]:
    """Essays of one CSV with our field names; column names match case-insensitively."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        text = next((columns[name] for name in TEXT_COLUMNS if name in columns), None)
        absent = [name for name in MEASURES if name not in columns]
        if text is None or absent:
            raise SourceError(f"{path.name}: needs a text column ({' or '.join(TEXT_COLUMNS)}) and the "
                              f"scores {', '.join(MEASURES)}; missing: {', '.join(absent) or 'text'}")
        ident = next((columns[name] for name in ID_COLUMNS if name in columns), None)
        essays = []
        for line, row in enumerate(reader, start=2):
            try:
                scores = {name: float(row[columns[name]]) for name in MEASURES}
            except (TypeError, ValueError):
                raise SourceError(f"{path.name}: line {line}: a score is not a number") from None
            key = row[ident].strip() if ident else f"{path.stem}-{line}"
            essays.append({"id": key, "text": row[text], **scores})
    return essays


def main() -> int:
    if all((DATA / name).is_file() for name in OUTPUTS):
        print(f"data/ already holds {', '.join(OUTPUTS)}")
        return 0
    sources = sorted(path for path in DATA.glob("*.csv") if path.name not in OUTPUTS) if DATA.is_dir() else []
    if not sources:
        print(f"prepare.py: {MISSING}", file=sys.stderr)
        return 1
    essays: dict[str, dict] = {}
    for path in sources:
        try:
            for essay in read_source(path):
                essays.setdefault(essay["id"], essay)
        except SourceError as exc:
            print(f"prepare.py: data/{exc}", file=sys.stderr)
            return 1
    ordered = sorted(essays.values(), key=lambda essay: essay["id"])
    random.Random(SEED).shuffle(ordered)
    cut = int(len(ordered) * (1 - TEST_SHARE))
    staging = Path(tempfile.mkdtemp(prefix=".data-", dir=DATA))
    try:
        for name, part in zip(OUTPUTS, (ordered[:cut], ordered[cut:])):
            with (staging / name).open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=["id", "text", *MEASURES])
                writer.writeheader()
                writer.writerows(part)
        for name in OUTPUTS:
            os.replace(staging / name, DATA / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {cut} training and {len(ordered) - cut} test essays to {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
