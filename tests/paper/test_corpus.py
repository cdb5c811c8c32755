"""The reader on the shared corpus of real papers, through the corpus's own scorer, with the
issue's targets as thresholds.

The corpus lives outside the repository (`../shared/papers` beside it, or `MLR_PAPERS_DIR`);
where it is absent, as for anyone outside this project, the test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import mlr_copilot

REPO = Path(__file__).resolve().parents[2]
PAPERS = Path(os.environ.get("MLR_PAPERS_DIR") or REPO.parent / "shared" / "papers")


@pytest.mark.skipif(not (PAPERS / "score_papers.py").is_file(),
                    reason=f"no paper corpus at {PAPERS} (set MLR_PAPERS_DIR to a folder with score_papers.py)")
def test_shared_corpus_meets_the_targets(tmp_path):
    server = Path(mlr_copilot.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(server), os.environ.get("PYTHONPATH")]))}
    command = f"{shlex.quote(sys.executable)} -m mlr_copilot.cli paper {{pdf}} --json"
    done = subprocess.run(
        [sys.executable, str(PAPERS / "score_papers.py"), "--manifest", str(PAPERS / "manifest.json"),
         "--refs", str(PAPERS / "references.json"), "--command", command, "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900, check=True)
    totals = json.loads(done.stdout)["totals"]
    summary = json.dumps(totals, indent=1)

    assert totals["errors"] == 0, summary
    assert totals["zero_ref_papers"] == 0, summary
    assert totals["refs_recall_pct"] >= 95 and totals["refs_clean_pct"] >= 95, summary
    assert totals["heading_recall_pct"] >= 90 and totals["heading_precision_pct"] >= 90, summary
    assert totals["titles"] == totals["papers"], summary
    assert totals["abstracts_clean"] >= 0.9 * totals["papers"], summary
    assert totals["running_heads_left"] == 0, summary
