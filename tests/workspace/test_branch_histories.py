"""One `git log` over every branch gives each branch's commits as a git process per branch
would (`commits.branch_histories` against `commits.commits_since_base`), on random histories
with forks, merges, unrelated roots, equal commit times and clocks that go backwards."""

from __future__ import annotations

import random

import pytest

from mlr_copilot.workspace.commits import branch_histories, commits_since_base
from tests.gitutil import git


def random_history(repo, rng: random.Random, steps: int, monkeypatch) -> dict[str, str]:
    """Branch name -> tip, made with commit-tree: dates tie, jump and go back at random."""
    git(repo, "init", "-q", "--initial-branch=main")
    tree = git(repo, "write-tree").strip()  # of the empty index
    when = 1_700_000_000
    made = 0

    def make(*parents: str) -> str:
        nonlocal when, made
        when += rng.choice([0, 0, 1, 7, 3600, -90])
        made += 1
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"{when} +0000")
        args = [arg for parent in parents for arg in ("-p", parent)]
        return git(repo, "commit-tree", tree, *args, "-m", f"c{made}").strip()

    tips = {"main": make()}
    commits = [tips["main"]]
    for _ in range(steps):
        roll = rng.random()
        name = rng.choice(sorted(tips))
        if roll < 0.5:
            tips[name] = make(tips[name])
        elif roll < 0.7:
            tips[f"mlr/b{len(tips)}"] = make(rng.choice(commits))
        elif roll < 0.9:
            other = rng.choice(sorted(tips))
            if other != name:
                tips[name] = make(tips[name], tips[other])
        else:
            tips[f"mlr/o{len(tips)}"] = make()  # a branch sharing no history with main
        commits.append(tips[name])
    for name, sha in tips.items():
        git(repo, "update-ref", f"refs/heads/{name}", sha)
    return tips


@pytest.mark.parametrize("seed", range(12))
def test_one_log_gives_each_branch_what_its_own_git_processes_give(tmp_path, seed, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    tips = random_history(repo, random.Random(seed), 40 + 5 * seed, monkeypatch)
    names = sorted(tips)
    for limit in (3, 8, 500):
        found = branch_histories(repo, [tips[n] for n in names], tips["main"], limit=limit)
        for name, commits in zip(names, found):
            expected = [c.sha for c in commits_since_base(repo, f"refs/heads/{name}", "main", limit=limit)]
            if commits is not None:
                assert [c.sha for c in commits] == expected, (name, limit)
            elif limit == 500:
                # with every commit read, only a criss-cross (git picks one of the merge bases)
                # is left to git
                assert len(git(repo, "merge-base", "--all", "main", name).split()) > 1, name


def test_hypothesis_branches_are_all_settled_by_the_one_log(tmp_path, monkeypatch):
    """The usual shape: a long base branch, hypothesis branches forked from it at several
    points (one before the commits the log reads), one that took the base in again, one
    unrelated, one at the base's tip and one behind it: every one settled by the one log
    wherever it read the commits a branch's answer needs."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    tree = git(repo, "write-tree").strip()
    when = 1_700_000_000

    def make(*parents: str) -> str:
        nonlocal when
        when += 1 if len(parents) != 1 else 0  # equal times: git's order among them counts
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"{when} +0000")
        return git(repo, "commit-tree", tree, *[a for p in parents for a in ("-p", p)], "-m", f"at {when}").strip()

    main = [make()]
    for _ in range(30):
        main.append(make(main[-1]))
    tips = {"main": main[-1], "mlr/at-tip": main[-1], "mlr/behind": main[-5], "mlr/unrelated": make(make())}
    for fork in (2, 12, 25, 29):
        tip = main[fork]
        for _ in range(3):
            tip = make(tip)
        tips[f"mlr/from-{fork}"] = tip
    tips["mlr/took-main"] = make(tips["mlr/from-12"], main[20])
    main.append(make(main[-1]))
    tips["main"] = main[-1]
    for name, sha in tips.items():
        git(repo, "update-ref", f"refs/heads/{name}", sha)
    names = sorted(tips)
    for limit in (10, 500):
        found = branch_histories(repo, [tips[n] for n in names], tips["main"], limit=limit)
        unsettled = set()
        for name, commits in zip(names, found):
            expected = [c.sha for c in commits_since_base(repo, f"refs/heads/{name}", "main", limit=limit)]
            if commits is None:
                unsettled.add(name)
            else:
                assert [c.sha for c in commits] == expected, (name, limit)
        # with 10 commits of the base read: a branch whose whole history reaches further, and
        # one whose merge bases both lie beyond them, are left to git
        assert unsettled == ({"mlr/behind", "mlr/took-main"} if limit == 10 else set())
