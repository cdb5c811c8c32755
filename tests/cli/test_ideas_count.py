"""`mlr-copilot ideas --n`: held to the bounds of the ideas.hypotheses setting."""

from __future__ import annotations

import json
import shutil

import pytest

from mlr_copilot.autonomous.demo import demo_files

from .test_cli import cli, no_traceback


@pytest.mark.parametrize("n, bound", [("-1", "greater than or equal to 1"), ("0", "greater than or equal to 1"),
                                      ("21", "less than or equal to 20")])
def test_an_out_of_range_count_is_one_clear_line(tmp_path, n, bound):
    paper, script = demo_files()
    shutil.copyfile(paper, tmp_path / "paper.pdf")
    result = cli("ideas", "paper.pdf", "--n", n, "--provider", "scripted", "--script", str(script), "--offline",
                 "-w", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"mlr-copilot ideas: --n {n} is invalid: input should be {bound}"]
    no_traceback(result)
    assert not (tmp_path / "research").exists()


def test_a_valid_count_is_the_number_proposed(tmp_path):
    paper, script = demo_files()
    shutil.copyfile(paper, tmp_path / "paper.pdf")
    records = [json.loads(line) for line in script.read_text().splitlines() if line.strip()]
    assess = next(r for r in records if r["call"] == "ideas.assess")
    assess["response"] = {"assessments": assess["response"]["assessments"][:2]}
    own = tmp_path / "script.jsonl"
    own.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = cli("ideas", "paper.pdf", "--n", "2", "--provider", "scripted", "--script", str(own), "--offline",
                 "-w", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = json.loads(cli("hypotheses", "--json", "-w", str(tmp_path)).stdout)
    assert [h["id"] for h in listed] == ["h1", "h2"]
