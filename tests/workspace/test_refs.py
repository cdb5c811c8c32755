"""Branch and commit arguments from outside (a user, an editor, an LLM, a cloned workspace's
state) are checked as refs before git sees them: an option is refused, an unknown name is an
error naming what exists, and nothing is written anywhere."""

from __future__ import annotations

import pytest

from mlr_copilot.history import history
from mlr_copilot.workspace.git import GitWorkspace
from mlr_copilot.workspace.refs import BadRefError, branch_ref, check_branch_name, commit_of
from tests.gitutil import git, make_repo, snapshot, status

# Each would be an option, a revision expression or no name at all if git saw it as given.
HOSTILE = [
    "--output={out}", "--output", "-o{out}", "-f", "-", "--orphan=x", "--exec=touch {out}", "--end-of-options",
    "-b", "", " ", "HEAD", "main~1", "main^", "a..b", "@{{-1}}", "main\n--output={out}", "main:x", "x y", "x\x1b[2J",
    "refs/heads/../x", "mlr/.lock", "x.lock", "~", "*", "main@{{0}}", "main\x00", "main\x00--output={out}",
    "\ud800", "x" * 200_000, "m" * 1025, "main\t", "\x7f",
]


def hostile(out) -> list[str]:
    return [name.format(out=out) for name in HOSTILE]


@pytest.fixture
def repo(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "exp")
    return repo


def test_every_hostile_branch_is_refused_by_history_and_writes_nothing(repo, tmp_path):
    out = tmp_path / "written"
    before, tree = snapshot(repo), status(repo)
    names = hostile(out)
    refused = 0
    for name in names:
        with pytest.raises(BadRefError) as caught:
            history(repo, name)
        message = str(caught.value)
        assert "\n" not in message and message, name
        refused += 1
    assert refused == len(names)
    assert not out.exists() and not list(tmp_path.glob("written*"))
    assert snapshot(repo) == before and status(repo) == tree


def test_unknown_branch_names_the_branches_there_are(repo):
    with pytest.raises(BadRefError, match=r"^no branch 'nope'; branches: exp, main$"):
        history(repo, "nope")
    assert branch_ref(repo, "exp") == "refs/heads/exp"
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    assert branch_ref(repo, "origin/main") == "refs/remotes/origin/main"
    assert history(repo, "exp").branch == "exp"


def test_non_string_branch_is_a_clear_error(repo):
    for value in (5, ["main"], {"branch": "main"}):
        with pytest.raises(BadRefError, match="must be a non-empty string"):
            history(repo, value)


def test_commit_of_refuses_options_and_names_commits(repo):
    head = git(repo, "rev-parse", "HEAD").strip()
    assert commit_of(repo, "main") == head and commit_of(repo, head[:8]) == head
    for rev in ("--output=x", "-h", "nope", "HEAD:train.py"):
        with pytest.raises(BadRefError):
            commit_of(repo, rev)


def test_checkout_refuses_a_planted_branch_named_like_an_option(repo):
    """A cloned repository can hold `refs/heads/-f`: `git checkout -f --` would throw away the
    user's changes, so the name is refused even though the branch exists."""
    git(repo, "update-ref", "refs/heads/-f", "HEAD")
    (repo / "train.py").write_text("print('my uncommitted work')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "mine")
    (repo / "notes.txt").write_text("untracked\n")
    with pytest.raises(BadRefError, match="starting with '-'"):
        GitWorkspace(repo).checkout_branch("-f")
    assert (repo / "notes.txt").read_text() == "untracked\n"
    assert git(repo, "branch", "--show-current").strip() == "main"


def test_checkout_base_must_be_a_commit(repo):
    ws = GitWorkspace(repo)
    with pytest.raises(BadRefError, match="starting with '-'"):
        ws.checkout_branch("mlr/new", base="--orphan=x")
    with pytest.raises(BadRefError, match="^no commit 'nope' in this repository$"):
        ws.checkout_branch("mlr/new", base="nope")
    assert "mlr/new" not in git(repo, "branch")
    ws.checkout_branch("mlr/new", base="exp")
    assert ws.current_branch() == "mlr/new"


@pytest.mark.parametrize("name", ["mlr/h1-lr-schedule", "feature/x", "v1.2"])
def test_ordinary_branch_names_pass(name):
    assert check_branch_name(name) == name


def test_a_run_record_naming_an_option_as_its_commit_adds_no_note(repo):
    """Run records under .mlr/ may come with a cloned workspace; their commit is never an option."""
    from mlr_copilot.workspace.notes import append_note, read_notes

    hostname = "/etc/hostname"
    assert append_note(repo, f"-F{hostname}", "run x: passed") is False
    assert read_notes(repo, "HEAD") == "" and read_notes(repo, "--output=x") == ""
    assert append_note(repo, "HEAD", "run y: passed") and read_notes(repo, "HEAD") == "run y: passed\n"


def test_a_planted_branch_that_is_not_text_is_listed_not_a_crash(repo):
    import subprocess

    subprocess.run(["git", "update-ref", b"refs/heads/caf\xff", "HEAD"], cwd=repo, check=True)
    with pytest.raises(BadRefError, match=r"^no branch 'nope'; branches: caf\ufffd, exp, main$"):
        history(repo, "nope")


FUZZ_PIECES = ["-", "--", "=", "/", ".", "..", ":", "~", "^", "@", "{", "}", "@{-1}", "\x00", "\n", "\x1b[31m", " ",
               "*", "?", "[", "\\", "é", "\ud800", "output", "--output=", "exec", "main", "exp", "HEAD", ".lock", "x"]


def test_seeded_fuzz_of_branch_names_never_writes_or_crashes(repo, tmp_path):
    import random

    rng = random.Random(11)
    out = tmp_path / "fuzz-written"
    before = snapshot(repo)
    tried = refused = shown = 0
    for _ in range(300):
        name = "".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(1, 6)))
        name = name.replace("--output=", f"--output={out}")
        tried += 1
        try:
            table = history(repo, name)
        except BadRefError as exc:
            assert str(exc) and "\n" not in str(exc)
            refused += 1
            continue
        assert not name.startswith("-") and table.branch == name
        shown += 1
    print(f"refs fuzz: {tried} tried, {refused} refused, {shown} shown")
    assert tried == refused + shown == 300 and refused > 250
    assert not list(tmp_path.glob("fuzz-written*")) and snapshot(repo) == before


def test_the_base_branch_is_origins_head_then_the_configured_default_then_main_then_master(tmp_path):
    from mlr_copilot.workspace.commits import default_branch

    repo = make_repo(tmp_path / "r")
    git(repo, "branch", "trunk")
    git(repo, "branch", "-m", "main", "master")
    assert default_branch(repo) == "master"
    git(repo, "branch", "main")
    assert default_branch(repo) == "main"
    git(repo, "config", "init.defaultBranch", "trunk")
    assert default_branch(repo) == "trunk"
    # origin's HEAD counts once a local branch of that name exists
    git(repo, "update-ref", "refs/remotes/origin/dev/x", "HEAD")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/dev/x")
    assert default_branch(repo) == "trunk"
    git(repo, "branch", "dev/x")
    assert default_branch(repo) == "dev/x"
    assert default_branch(tmp_path) is None  # not a repository
