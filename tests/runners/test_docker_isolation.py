"""A Docker run executes its commit's worktree, mounted as /workspace: the checkout is never
seen or touched, the worktree's `.git` resolves inside the container, outputs are kept, and
whatever the container leaves behind does not stop the worktree's removal."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlr_copilot.runners.base import open_sink
from mlr_copilot.runners.docker import DockerRunner, device_requests
from mlr_copilot.runners.execute import execute
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunRequest
from mlr_copilot.runners.supervise import Placement, RunContext
from tests.gitutil import commit, git, make_repo

from .conftest import TEST_IMAGE

SCRIPT = """
import os, pathlib
print("VERSION", open("version.txt").read().strip(), "COMMIT", os.environ["MLR_COMMIT"])
gitdir = pathlib.Path(open(".git").read().split("gitdir:", 1)[1].strip())
common = gitdir.parent.parent
print("REPOSITORY SEEN", common.exists())
for path, text in ((common / "refs" / "heads" / "planted", "0" * 40 + "\\n"),
                   (common / "hooks" / "post-checkout", "#!/bin/sh\\ntouch /tmp/planted\\n"),
                   (common / "config", "[core]\\n\\tfsmonitor = touch /tmp/planted\\n"),
                   (gitdir / "HEAD", "0" * 40 + "\\n")):
    try:
        with open(path, "a") as handle:
            handle.write(text)
        print("WROTE", path.name)
    except OSError as exc:
        print("REFUSED", path.name, exc.strerror)
try:
    open(".git", "w").write("gitdir: /tmp/elsewhere\\n")
    print("WROTE .git")
except OSError as exc:
    print("REFUSED .git", exc.strerror)
print("SECRET", repr(open(".env").read()))
open(os.path.join(os.environ["MLR_OUTPUT_DIR"], "model.bin"), "w").write("weights")
os.makedirs("locked/inner")
open("locked/inner/file", "w").write("x")
os.chmod("locked/inner", 0o500)
os.chmod("locked", 0o500)
"""


def repository_state(repo: Path) -> dict[str, bytes]:
    """The user's repository as a run must leave it: HEAD, refs, config, hooks (its objects and
    notes ref grow by the run's git note, which the host writes)."""
    git_dir = repo / ".git"
    skip = ("objects/", "refs/notes/", "logs/refs/notes/", "worktrees/")
    return {rel: path.read_bytes() for path in sorted(git_dir.rglob("*"))
            if path.is_file() and not (rel := path.relative_to(git_dir).as_posix()).startswith(skip)}


@pytest.mark.docker
def test_a_docker_run_executes_its_commits_worktree_and_cannot_reach_the_repository(docker_client, tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": SCRIPT, "version.txt": "A\n", ".gitignore": ".mlr/\n.env\n"})
    a = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"version.txt": "B\n"}, "B")
    (repo / "version.txt").write_text("being edited\n")
    (repo / ".env").write_text("OPENAI_API_KEY=sk-in-the-checkout-only\n")
    index = (repo / ".git" / "index").read_bytes()
    before = repository_state(repo)

    record = execute(RunRequest(workspace=str(repo), command=["python", "train.py"], timeout=120, image=TEST_IMAGE),
                     DockerRunner(TEST_IMAGE, client=docker_client), rev=a)

    assert record.log_path
    log = (repo / record.log_path).read_text()
    assert record.status == "passed" and record.isolated and record.commit == a, log
    assert f"VERSION A COMMIT {a}" in log and "REPOSITORY SEEN False" in log, log
    assert "WROTE" not in log and log.count("REFUSED") == 5, log
    assert "REFUSED .git Read-only file system" in log
    assert "SECRET ''" in log  # the checkout's secrets file is not in the tree; it reads empty as always
    assert record.outputs and (repo / record.outputs / "model.bin").read_text() == "weights"
    assert (repo / "version.txt").read_text() == "being edited\n" and (repo / ".git" / "index").read_bytes() == index
    assert repository_state(repo) == before
    assert not (repo / ".git" / "refs" / "heads" / "planted").exists()
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert list((repo / ".mlr" / "worktrees").iterdir()) == []


def test_a_docker_run_with_gpus_gets_its_slots_ids_only(tmp_path):
    repo = make_repo(tmp_path / "repo")
    request = RunRequest(workspace=str(repo), command=["python", "train.py"], gpus=True)
    sink = open_sink(request, repo, "20250101-000000-abcdef", None, [])
    try:
        def context(gpu_ids: tuple[str, ...] | None, req: RunRequest = request) -> RunContext:
            placement = Placement(tree=repo, commit="0" * 40, output_dir=tmp_path, gpu_ids=gpu_ids)
            return RunContext(req, repo, "20250101-000000-abcdef", [], sink, placement)

        [pinned] = device_requests(context(("3", "5")))
        assert pinned["DeviceIDs"] == ["3", "5"] and pinned["Count"] in (None, 0)
        assert device_requests(context(())) is None
        assert device_requests(context(("3",), request.model_copy(update={"gpus": False}))) is None
        [everything] = device_requests(RunContext(request, repo, "20250101-000000-abcdef", [], sink))
        assert everything["Count"] == -1
    finally:
        sink.close()



DATA_SCRIPT = """
import os
print("ROWS", len(open("data/train.csv").read().split()))
for name in ("data/train.csv", "data/new.txt"):
    try:
        open(name, "a").write("planted\\n")
        print("WROTE", name)
    except OSError as exc:
        print("REFUSED", name, exc.strerror)
print("RAW DATA SEEN", os.path.exists("raw/a/b/c/rows.csv"))
print("RAW SECRET", repr(open("raw/a/b/c/.env").read()) if os.path.exists("raw/a/b/c/.env") else None)
"""
DEEP_SECRET = "sk-deep-dotenv-0123456789abcdef"


def data_workspace(path: Path) -> Path:
    """A repository whose ignored `data/` holds a dataset and whose ignored `raw/` holds one
    with a `.env` three folders down."""
    repo = make_repo(path, {"train.py": DATA_SCRIPT, ".gitignore": ".mlr/\ndata/\nraw/\n"})
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("a\nb\nc\n")
    (repo / "raw" / "a" / "b" / "c").mkdir(parents=True)
    (repo / "raw" / "a" / "b" / "c" / "rows.csv").write_text("x\n")
    (repo / "raw" / "a" / "b" / "c" / ".env").write_text(f"OPENAI_API_KEY={DEEP_SECRET}\n")
    return repo


@pytest.mark.docker
def test_a_docker_run_reads_the_ignored_data_read_only_and_never_a_deep_secret(docker_client, tmp_path):
    repo = data_workspace(tmp_path / "repo")

    record = execute(RunRequest(workspace=str(repo), command=["python", "train.py"], timeout=120, image=TEST_IMAGE),
                     DockerRunner(TEST_IMAGE, client=docker_client))

    assert record.log_path
    log = (repo / record.log_path).read_text()
    assert record.status == "passed" and record.isolated, log
    assert "ROWS 3" in log
    assert "REFUSED data/train.csv Read-only file system" in log and "REFUSED data/new.txt Read-only file system" in log
    # raw/ holds a secrets file: it is not mounted (the secret's stand-in reads empty)
    assert "RAW DATA SEEN False" in log and "RAW SECRET ''" in log and DEEP_SECRET not in log, log
    assert (repo / "data" / "train.csv").read_text() == "a\nb\nc\n" and not (repo / "data" / "new.txt").exists()
    assert sorted(p.name for p in (repo / "data").iterdir()) == ["train.csv"]
    assert list((repo / ".mlr" / "worktrees").iterdir()) == []


def test_a_local_run_reads_the_ignored_data_and_never_a_deep_secret(tmp_path):
    repo = data_workspace(tmp_path / "repo")
    record = execute(RunRequest(workspace=str(repo), command=[sys.executable, "train.py"], timeout=60), LocalRunner())
    assert record.log_path
    log = (repo / record.log_path).read_text()
    assert record.status == "passed" and record.isolated and "ROWS 3" in log, log
    assert "RAW DATA SEEN False" in log and "RAW SECRET None" in log and DEEP_SECRET not in log, log
    # a local run cannot be kept from writing through the link: the user's own files, as before
    assert (repo / "raw" / "a" / "b" / "c" / ".env").read_text() == f"OPENAI_API_KEY={DEEP_SECRET}\n"
    assert list((repo / ".mlr" / "worktrees").iterdir()) == []


LITTER = """
import os
open("version.txt", "w").write("changed by run 1\\n")
open("notes.txt", "w").write("left by run 1")
open("weights.ckpt", "w").write("ignored, left by run 1")
os.makedirs("cache/deep")
open("cache/deep/x", "w").write("x")
os.symlink("/etc", "out")
open(".gitattributes", "w").write("* filter=evil\\n")
os.makedirs("locked/inner")
open("locked/inner/file", "w").write("x")
os.chmod("locked/inner", 0o500)
os.chmod("locked", 0o500)
"""
LOOK = """
import os
print("FILES", sorted(os.path.join(d, f) for d, dirs, files in os.walk(".") for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]))
print("VERSION", open("version.txt").read().strip())
"""


@pytest.mark.docker
@pytest.mark.parametrize("runner", ["docker", "local"])
def test_a_reused_worktree_holds_nothing_of_the_previous_run(docker_client, tmp_path, runner):
    repo = make_repo(tmp_path / "repo", {"litter.py": LITTER, "look.py": LOOK, "version.txt": "A\n",
                                         ".gitignore": ".mlr/\n*.ckpt\n"})
    a = git(repo, "rev-parse", "HEAD").strip()
    b = commit(repo, {"version.txt": "B\n"}, "B")
    python = "python" if runner == "docker" else sys.executable
    run = DockerRunner(TEST_IMAGE, client=docker_client) if runner == "docker" else LocalRunner()

    def execute_in_pool(script: str, rev: str):
        request = RunRequest(workspace=str(repo), command=[python, script], timeout=120, image=TEST_IMAGE)
        return execute(request, run, rev=rev, pool=1)

    first = execute_in_pool("litter.py", a)
    assert first.status == "passed", (repo / str(first.log_path)).read_text()
    tree = repo / ".mlr" / "worktrees" / "pool-0"
    inode = (tree / "look.py").stat().st_ino
    assert git(tree, "--no-optional-locks", "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    second = execute_in_pool("look.py", b)
    log = (repo / str(second.log_path)).read_text()
    assert second.status == "passed", log
    assert "FILES ['./.git', './.gitignore', './litter.py', './look.py', './version.txt']" in log, log
    assert "VERSION B" in log
    assert (tree / "look.py").stat().st_ino == inode  # reused: only version.txt was written again
    assert git(tree, "--no-optional-locks", "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
