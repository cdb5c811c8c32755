"""The history table's git: one `for-each-ref` and one `git log` (after gitsafe's one read of
the configuration) for every branch listed, with the commits and branches a git process per
branch gives: detached and unborn HEADs, no commits, many branches, unrelated ones."""

from __future__ import annotations

import pytest

from mlr_copilot.history import history
from mlr_copilot.workspace.commits import commits_since_base, default_branch
from tests.gitutil import commit, git, make_repo, project_git_processes


@pytest.fixture
def git_calls():
    with project_git_processes() as started:
        yield started


def lived_in(path, branches: int = 2):
    """main with a few commits, `branches` hypothesis branches forked at different commits,
    one of them checked out."""
    repo = make_repo(path, {"train.py": "print(1)\n"}, message="starter")
    commit(repo, {"a.txt": "1"}, "main 2")
    for n in range(branches):
        git(repo, "checkout", "-q", "-b", f"mlr/h{n}-idea", "main" if n % 2 else "main~1")
        commit(repo, {"b.txt": str(n)}, f"idea {n}\n\nMLR-Hypothesis: h{n}")
    git(repo, "checkout", "-q", "main")
    commit(repo, {"a.txt": "2"}, "main 3")
    git(repo, "checkout", "-q", "mlr/h0-idea")
    return repo


def expected_rows(repo, names: list[str]) -> list[tuple[str, str]]:
    """(branch, commit) of each row of a table without runs, as a git process per branch
    gives the commits: each once, the base branch's past beyond its tip hidden."""
    base = default_branch(repo)
    seen: set[str] = set()
    rows = []
    for position, name in enumerate(names):
        commits = [c for c in commits_since_base(repo, f"refs/heads/{name}", base) if c.sha not in seen]
        seen.update(c.sha for c in commits)
        rows += [(name, c.sha) for at, c in enumerate(commits) if not (len(names) > 1 and position == 0 and at > 0)]
    return rows


def test_history_of_every_branch_runs_three_git_processes(tmp_path, git_calls):
    repo = lived_in(tmp_path / "repo", branches=2)
    table = history(repo, all_branches=True)
    assert [call[0] for call in git_calls] == ["config", "for-each-ref", "log"], git_calls
    assert table.branches == ["main", "mlr/h0-idea", "mlr/h1-idea"]
    assert [(r.branch, r.commit) for r in table.rows] == expected_rows(repo, table.branches)
    assert [r.hypothesis for r in table.rows if r.branch != "main"] == ["h0", "h1"]


def test_many_branches_still_take_one_log(tmp_path, git_calls):
    repo = lived_in(tmp_path / "repo", branches=30)
    table = history(repo, all_branches=True)
    assert [call[0] for call in git_calls] == ["config", "for-each-ref", "log"]
    assert len(table.branches) == 31
    assert [(r.branch, r.commit) for r in table.rows] == expected_rows(repo, table.branches)


def test_a_branch_not_descending_from_the_base_shows_its_whole_history(tmp_path, git_calls):
    repo = lived_in(tmp_path / "repo", branches=1)
    git(repo, "checkout", "-q", "--orphan", "mlr/h9-fresh")
    commit(repo, {"c.txt": "1"}, "fresh 1")
    commit(repo, {"c.txt": "2"}, "fresh 2\n\nMLR-Hypothesis: h9")
    table = history(repo, all_branches=True)
    assert [call[0] for call in git_calls] == ["config", "for-each-ref", "log"]
    assert table.branches == ["main", "mlr/h9-fresh", "mlr/h0-idea"]
    assert [r.subject for r in table.rows if r.branch == "mlr/h9-fresh"] == ["fresh 2", "fresh 1"]
    assert [(r.branch, r.commit) for r in table.rows] == expected_rows(repo, table.branches)


def test_the_base_branch_comes_from_the_configuration_read_anyway(tmp_path, git_calls):
    repo = lived_in(tmp_path / "repo", branches=1)
    git(repo, "branch", "trunk", "main~1")
    git(repo, "config", "init.defaultBranch", "trunk")
    table = history(repo, all_branches=True)
    assert table.branches[0] == "trunk" and [call[0] for call in git_calls] == ["config", "for-each-ref", "log"]
    assert [(r.branch, r.commit) for r in table.rows] == expected_rows(repo, table.branches)


def test_a_detached_head_asks_git_status_where_it_is(tmp_path, git_calls):
    repo = lived_in(tmp_path / "repo", branches=2)
    git(repo, "checkout", "-q", "--detach", "mlr/h1-idea")
    table = history(repo, all_branches=True)
    assert [call[0] for call in git_calls] == ["config", "for-each-ref", "status", "log"]
    # the base and the hypothesis branches, as before: a detached HEAD is no branch to list
    assert table.branches == ["main", "mlr/h0-idea", "mlr/h1-idea"]
    assert [(r.branch, r.commit) for r in table.rows] == expected_rows(repo, table.branches)
    alone = history(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    assert alone.branch is None and [r.commit for r in alone.rows] == [
        c.sha for c in commits_since_base(repo, None, "main")] and alone.rows[0].commit == head


def test_no_commits_and_an_unborn_branch_show_the_runs_alone(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    table = history(empty, all_branches=True)
    assert table.branches == [] and [r.commit for r in table.rows] == []
    repo = lived_in(tmp_path / "repo", branches=1)
    git(repo, "checkout", "-q", "--orphan", "unborn")
    table = history(repo, all_branches=True)
    assert table.branches == [] and table.rows == []


def test_one_branch_is_its_commits_back_to_the_base(tmp_path, git_calls):
    repo = lived_in(tmp_path / "repo", branches=2)
    table = history(repo, "mlr/h1-idea")
    assert table.branch == "mlr/h1-idea"
    assert [r.commit for r in table.rows] == [c.sha for c in commits_since_base(repo, "refs/heads/mlr/h1-idea", "main")]
    assert [r.subject for r in table.rows] == ["idea 1", "main 2"]
