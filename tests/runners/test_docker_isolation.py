"""A Docker run executes its commit's worktree, mounted as /workspace: the checkout is never
seen or touched, the worktree's `.git` resolves inside the container, outputs are kept, and
whatever the container leaves behind does not stop the worktree's removal."""

from __future__ import annotations

import pytest

from mlr_copilot.runners.base import open_sink
from mlr_copilot.runners.docker import DockerRunner, device_requests
from mlr_copilot.runners.execute import execute
from mlr_copilot.runners.model import RunRequest
from mlr_copilot.runners.supervise import Placement, RunContext
from tests.gitutil import commit, git, make_repo

from .conftest import TEST_IMAGE

SCRIPT = """
import os, pathlib
print("VERSION", open("version.txt").read().strip())
gitdir = pathlib.Path(open(".git").read().split("gitdir:", 1)[1].strip())
print("HEAD", (gitdir / "HEAD").read_text().strip(), "COMMIT", os.environ["MLR_COMMIT"])
print("OBJECTS", (gitdir / "commondir").read_text().strip(), (gitdir.parent.parent / "objects").is_dir())
try:
    (gitdir / "HEAD").write_text("0" * 40)
    print("WROTE HEAD")
except OSError as exc:
    print("REFUSED HEAD", exc.strerror)
print("SECRET", repr(open(".env").read()))
open(os.path.join(os.environ["MLR_OUTPUT_DIR"], "model.bin"), "w").write("weights")
os.makedirs("locked/inner")
open("locked/inner/file", "w").write("x")
os.chmod("locked/inner", 0o500)
os.chmod("locked", 0o500)
"""


@pytest.mark.docker
def test_a_docker_run_executes_its_commits_worktree(docker_client, tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": SCRIPT, "version.txt": "A\n", ".gitignore": ".mlr/\n.env\n"})
    a = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"version.txt": "B\n"}, "B")
    (repo / "version.txt").write_text("being edited\n")
    (repo / ".env").write_text("OPENAI_API_KEY=sk-in-the-checkout-only\n")
    index = (repo / ".git" / "index").read_bytes()

    record = execute(RunRequest(workspace=str(repo), command=["python", "train.py"], timeout=120, image=TEST_IMAGE),
                     DockerRunner(TEST_IMAGE, client=docker_client), rev=a)

    assert record.log_path
    log = (repo / record.log_path).read_text()
    assert record.status == "passed" and record.isolated and record.commit == a, log
    assert "VERSION A" in log and f"HEAD {a} COMMIT {a}" in log and "OBJECTS ../.. True" in log
    assert "REFUSED HEAD Read-only file system" in log
    assert "SECRET ''" in log  # the checkout's secrets file is not in the tree; it reads empty as always
    assert record.outputs and (repo / record.outputs / "model.bin").read_text() == "weights"
    assert (repo / "version.txt").read_text() == "being edited\n" and (repo / ".git" / "index").read_bytes() == index
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

