"""A representative subset of the hostile replies through the installed CLI as a real process:
the exit code, one clear line on stderr and no traceback, what is shown printed verbatim, and
the next command working."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
from pathlib import Path

import pytest

from mlr_copilot.work import Work
from tests.gitutil import git, make_repo

from ..cli.test_cli import cli, no_traceback
from .mutations import CONTROL, MARKUP, PROSE, SEED, edit_reply, file_reply, json_cases
from .test_fuzz_ideas import VALID, engine_with

TRAIN = "EPOCHS = 3\n\n\ndef main():\n    pass\n\n\nraise ValueError('bad epochs')\n"
GOOD_EDIT = edit_reply("train.py", "EPOCHS = 3", "EPOCHS = 4", summary="Four epochs")
CASES_BY_NAME = {kind: dict(json_cases(VALID[kind], random.Random(f"{SEED}-{kind}"))) for kind in VALID}
CASES_BY_NAME["ideas.generate"]["hostile-titles"] = json.dumps({"hypotheses": [
    {**draft, "title": f"{CONTROL}{MARKUP} {draft['title']}"} for draft in VALID["ideas.generate"]["hypotheses"]]})


@pytest.fixture(scope="module")
def proposed(tmp_path_factory) -> Path:
    """A git workspace whose hypotheses were proposed from the recorded replies."""
    from mlr_copilot.autonomous.demo import demo_files
    from mlr_copilot.paper import parse_pdf

    workspace = make_repo(tmp_path_factory.mktemp("cli") / "ws", {"train.py": TRAIN})
    engine = engine_with(workspace, [(c, VALID[c]) for c in ("ideas.analyse", "ideas.generate", "ideas.assess")])
    asyncio.run(engine.propose_hypotheses(parse_pdf(demo_files()[0]), Work()))
    engine.decide("h1", "accepted")
    return workspace


def script(tmp_path: Path, *records: tuple[str, object]) -> str:
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.jsonl"
    path.write_text("".join(json.dumps({"call": c, "response": r}) + "\n" for c, r in records))
    return str(path)


def run(workspace: Path, *args: str, replies: str | None = None):
    extra = ["--provider", "scripted", "--script", replies] if replies else []
    result = cli(*args, "-w", str(workspace), "--offline", *extra, cwd=workspace, env={"MLR_RUNNER": "local"})
    if args[0] == "debug":  # the experiment's own traceback is in the run's log lines
        assert "mlr_copilot" not in result.stderr.split("Traceback", 1)[-1]
    else:
        no_traceback(result)
    assert "\x1b" not in result.stdout + result.stderr
    return result


def one_error_line(result, command: str) -> str:
    [line] = [line for line in result.stderr.splitlines() if line.startswith(f"mlr-copilot {command}:")]
    return line


def copy(proposed: Path, tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    shutil.copytree(proposed, workspace, symlinks=True)
    return workspace


def ideas_records(kind: str, first: str, second: object) -> list[tuple[str, object]]:
    order = ("ideas.analyse", "ideas.generate", "ideas.assess")
    return [step for call in order for step in ([(call, first), (call, second)] if call == kind else [(call, VALID[call])])]


@pytest.mark.parametrize("kind, mutation, twice", [
    ("ideas.analyse", "deep-object", True),
    ("ideas.generate", "hostile-titles", False),
    ("ideas.assess", "lone-surrogate", True),
])
def test_ideas_through_the_cli(kind, mutation, twice, tmp_path):
    from mlr_copilot.autonomous.demo import demo_files

    workspace = tmp_path / "ws"
    workspace.mkdir()
    hostile = CASES_BY_NAME[kind][mutation]
    replies = script(tmp_path, *ideas_records(kind, hostile, hostile if twice else VALID[kind]))
    result = run(workspace, "ideas", str(demo_files()[0]), "--n", "3", replies=replies)
    if twice:
        assert result.returncode == 2
        assert one_error_line(result, "ideas").startswith(f"mlr-copilot ideas: The reply to '{kind}' did not validate: ")
    else:
        assert result.returncode == 0, result.stderr
        assert "pwned" in result.stdout and "[/bold]" in result.stdout  # the table may wrap the title anywhere
        [doc] = (workspace / "research").glob("*/hypotheses.md")
        assert "\\x1b[2J\\x1b]0;pwned\\x07" in doc.read_text()
    listed = run(workspace, "hypotheses")
    assert listed.returncode == 0
    assert ("h1" in listed.stdout) != twice


def test_refine_through_the_cli(proposed, tmp_path):
    workspace = copy(proposed, tmp_path)
    hostile = CASES_BY_NAME["ideas.refine"]["huge-prose"]
    result = run(workspace, "refine", "h1", "--feedback", "simpler", replies=script(tmp_path, ("ideas.refine", hostile),
                                                                                  ("ideas.refine", hostile)))
    assert result.returncode == 2
    assert one_error_line(result, "refine").startswith("mlr-copilot refine: The reply to 'ideas.refine' did not validate: ")
    markup = run(workspace, "refine", "h1", "--feedback", "simpler", replies=script(
        tmp_path, ("ideas.refine", {**VALID["ideas.refine"], "title": f"Refined {MARKUP}"}),
        ("ideas.assess", {"assessments": [{**VALID["ideas.assess"]["assessments"][0], "index": 1}]})))
    assert markup.returncode == 0 and f"Refined {MARKUP}" in markup.stdout
    listed = run(workspace, "hypotheses")
    assert listed.returncode == 0 and f"Refined {MARKUP}" in listed.stdout


@pytest.mark.parametrize("hostile, then", [
    (PROSE, "history"),
    (file_reply(".git/hooks/pre-commit", "#!/bin/sh\necho pwned\n"), "implement"),
    (edit_reply("train.py", "EPOCHS = 30", "EPOCHS = 4"), "implement"),
    (file_reply("pipe.py", "print(1)\n"), "history"),
])
def test_implement_that_commits_nothing_through_the_cli(proposed, tmp_path, hostile, then):
    workspace = copy(proposed, tmp_path)
    os.mkfifo(workspace / "pipe.py")
    head = git(workspace, "rev-parse", "HEAD")
    result = run(workspace, "implement", "h1", "--yes", replies=script(
        tmp_path, *[("implement.step", hostile)] * 3, *[("implement.step", "DONE: stop")] * 2))
    assert result.returncode == 1
    assert one_error_line(result, "implement").startswith("mlr-copilot implement: nothing implemented: ")
    assert git(workspace, "rev-parse", "HEAD") == head
    assert all(line.startswith("?? ") for line in git(workspace, "status", "--porcelain").splitlines())
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()
    if then == "history":
        assert run(workspace, "history").returncode == 0
    else:
        # implementing it again resumes from the step it reached
        again = run(workspace, "implement", "h1", "--yes", replies=script(
            tmp_path, ("implement.step", GOOD_EDIT), ("implement.step", "DONE: ok")))
        assert again.returncode == 0, again.stderr
        assert "EPOCHS = 4" in (workspace / "train.py").read_text()


def test_markup_in_an_implemented_change_then_undo(proposed, tmp_path):
    workspace = copy(proposed, tmp_path)
    hostile = GOOD_EDIT.replace("SUMMARY: Four epochs", f"SUMMARY: Four epochs {MARKUP} {CONTROL}")
    result = run(workspace, "implement", "h1", "--yes", replies=script(
        tmp_path, ("implement.step", hostile), ("implement.step", "DONE: ok")))
    assert result.returncode == 0, result.stderr
    assert f"Four epochs {MARKUP}" in result.stdout
    undone = run(workspace, "undo")
    assert undone.returncode == 0 and (workspace / "train.py").read_text() == TRAIN


def test_a_fix_that_never_applies_through_the_cli(proposed, tmp_path):
    workspace = copy(proposed, tmp_path)
    hostile = edit_reply("train.py", "EPOCHS = 30", "EPOCHS = 4")
    result = run(workspace, "debug", "--yes", replies=script(tmp_path, *[("debug.fix", hostile)] * 3))
    assert result.returncode == 2
    line = one_error_line(result, "debug")
    assert "could not be applied after 3 tries" in line and "match nothing" in line
    assert all(line.startswith("?? ") for line in git(workspace, "status", "--porcelain").splitlines())
    history = run(workspace, "history")
    assert history.returncode == 0 and "failed" in history.stdout
