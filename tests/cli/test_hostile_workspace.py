"""A hostile workspace or argument through the real CLI: a branch that is an option or does not
exist, and a cloned repository's `.env` that tries to steer the keys or what runs."""

from __future__ import annotations

from tests.workspace.gitutil import git, make_repo

from .test_cli import cli, no_traceback


def test_history_branch_that_is_an_option_writes_nothing_and_says_why(tmp_path):
    repo = make_repo(tmp_path / "repo")
    target = tmp_path / "owned.txt"
    result = cli("history", f"--branch=--output={target}", "-w", str(repo))
    no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"mlr-copilot history: '--output={target}' is not a branch name: names starting with '-' are refused"
    ]
    assert result.stdout == "" and not target.exists()


def test_history_of_an_unknown_branch_is_an_error_not_an_empty_table(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "mlr/h1-wider")
    result = cli("history", "--branch", "mlr/h9", "-w", str(repo))
    no_traceback(result)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "mlr-copilot history: no branch 'mlr/h9'; branches: main, mlr/h1-wider"
    shown = cli("history", "--branch", "mlr/h1-wider", "-w", str(repo))
    assert shown.returncode == 0 and "branch mlr/h1-wider" in shown.stdout
