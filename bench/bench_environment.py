"""What recording a run's environment costs: the import scan, the local probe, the Docker probe
(first time for an image, then cached). Run by hand: `python bench/bench_environment.py`."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mlr_copilot.runners import provenance
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunRequest

TRAIN = "import numpy as np\nimport sklearn\nfrom sklearn.linear_model import LogisticRegression\n"


def timed(label: str, call) -> None:
    start = time.perf_counter()
    call()
    print(f"{label:45s} {1000 * (time.perf_counter() - start):7.1f} ms")


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()  # no options; --help says what it does
    workspace = Path(tempfile.mkdtemp())
    (workspace / "train.py").write_text(TRAIN)
    request = RunRequest(workspace=str(workspace), command=[sys.executable, "train.py"], image="mlr-python:bookworm")
    timed("import scan (1 file)", lambda: provenance.imported_modules(workspace))
    timed("local capture (this interpreter)", lambda: provenance.capture(LocalRunner(), request, None))
    timed("local capture again", lambda: provenance.capture(LocalRunner(), request, None))
    other = request.model_copy(update={"command": "python3 train.py"})
    timed("local capture (python3 on PATH, subprocess)", lambda: provenance.capture(LocalRunner(), other, None))
    try:
        from mlr_copilot.runners.docker import DockerRunner

        runner = DockerRunner("mlr-python:bookworm")
        provenance.user_cache_dir("environments")  # the cache folder exists; clear it for a first probe
        for path in provenance.user_cache_dir("environments").glob("*.json"):
            path.unlink()
        provenance._PROBED.clear()
        timed("docker capture, first for the image", lambda: provenance.capture(runner, request, request.image))
        provenance._PROBED.clear()
        timed("docker capture, from the disk cache", lambda: provenance.capture(runner, request, request.image))
        timed("docker capture, in-process cache", lambda: provenance.capture(runner, request, request.image))
    except Exception as exc:  # no engine
        print(f"docker: skipped ({exc})")


if __name__ == "__main__":
    main()
