"""An implementation that commits nothing is its own outcome: `implement` exits non-zero with
one line, `auto` fails the hypothesis without running or scoring the baseline's commit, and
`eval` counts a failed attempt."""

from __future__ import annotations

import json
from pathlib import Path

from mlr_copilot.autonomous.demo import demo_files

from .test_cli import cli, no_traceback

PROSE = "I would rather not change the code: the baseline looks fine to me."


def prose_script(tmp_path: Path) -> Path:
    records = [json.loads(line) for line in demo_files()[1].read_text().splitlines()]
    kept = [r for r in records if r["call"].startswith("ideas.")]
    kept += [{"call": "implement.step", "response": PROSE}]
    path = tmp_path / "prose.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return path


def test_auto_and_eval_never_score_an_implementation_that_committed_nothing(tmp_path):
    result = cli("eval", "--tasks", "review-sentiment", "--runs", "1", "--provider", "scripted", "--script",
                 str(prose_script(tmp_path)), "--offline", "--runner", "local", "--workdir", str(tmp_path / "eval"),
                 "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    no_traceback(result)
    data = json.loads(result.stdout)
    [attempt] = data["attempts"]
    assert attempt["status"] == "failed" and attempt["improvement"] is None and attempt["best_run"] is None
    assert "h1: nothing implemented: the agent proposed no change" in attempt["message"]
    summary = data["tasks"][0]
    assert (summary["attempts"], summary["successes"], summary["mean_improvement"]) == (1, 0, None)
    workspace = Path(attempt["workspace"])
    state = json.loads((workspace / ".mlr" / "auto" / "state.json").read_text())
    [hypothesis] = state["hypotheses"]
    assert hypothesis["status"] == "failed" and hypothesis["runs"] == [] and hypothesis["best"] is None
    runs = [json.loads(p.read_text()) for p in (workspace / ".mlr" / "runs").glob("*.json")]
    assert [r["baseline"] for r in runs] == [True]  # the baseline, and no run of its commit as the result


def test_implement_that_commits_nothing_exits_non_zero_with_one_line(tmp_path):
    workspace = tmp_path / "ws"
    ideas = cli("ideas", str(demo_files()[0]), "--n", "3", "--provider", "scripted", "--script",
                str(prose_script(tmp_path)), "--offline", "-w", str(workspace))
    assert ideas.returncode == 0, ideas.stderr
    (workspace / "train.py").write_text("print('METRIC macro_f1=0.5')\n")
    assert cli("accept", "h1", "-w", str(workspace)).returncode == 0
    script = tmp_path / "implement.jsonl"
    script.write_text(json.dumps({"call": "implement.step", "response": PROSE}) + "\n")
    result = cli("implement", "h1", "--yes", "-w", str(workspace), "--provider", "scripted", "--script", str(script),
                 "--offline")
    assert result.returncode == 1
    no_traceback(result)
    [line] = [line for line in result.stderr.splitlines() if line.startswith("mlr-copilot implement:")]
    assert line == ("mlr-copilot implement: nothing implemented: the agent proposed no change; "
                    "it ended with: its last reply held no edit, READ or DONE line")
    assert "h1 on mlr/" in result.stdout and ": nothing-implemented (" in result.stdout
