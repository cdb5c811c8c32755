"""The editor's review path keeps the user's files too: a change aimed at an untracked file
never reaches workspace/applyEdit, and a server killed right after `acceptEdit`, before its
commit, leaves nothing for the user to clean up: the next server's start settles it."""

from __future__ import annotations

import asyncio
import json
import sys

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from mlr_copilot.autonomous.demo import demo_files
from tests.gitutil import git_processes_in

from .conftest import SERVER_ENV, execute, start, wait_for
from .test_flow import answer_edits, git, propose, scripted_workspace

MINE = "my own notes, in no commit\n"
AT_NOTES = "SUMMARY: Notes\n\nnotes.py\n<<<<<<< FILE\nprint('agent')\n>>>>>>> FILE\n"


def demo_records() -> list[dict]:
    return [json.loads(line) for line in demo_files()[1].read_text().splitlines() if line.strip()]


def changes(workspace) -> list[str]:
    """`git status` but for the research notes the ideas phase writes."""
    return [line for line in git(workspace, "status", "--porcelain").splitlines() if line != "?? research/"]


async def test_a_change_to_an_untracked_file_never_reaches_the_editor(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path, drop=("implement.step",), extra=[
        {"call": "implement.step", "response": AT_NOTES},
        {"call": "implement.step", "response": AT_NOTES, "expect": ["refused notes.py: it is an untracked file"]},
        {"call": "implement.step", "response": AT_NOTES},
        {"call": "implement.step", "response": "DONE: left it", "expect": ["edit could not be applied [failed]"]},
    ])
    (workspace / "notes.py").write_text(MINE)
    asked = answer_edits(client, [True])
    await start(client, workspace, settings=settings)
    await propose(client, workspace)
    await execute(client, "mlrCopilot.acceptHypothesis", "h1")
    result = await execute(client, "mlrCopilot.implement", "h1")
    assert asked == [] and result["commits"] == []
    assert "refused notes.py: it is an untracked file of yours" in result["steps"][0]["reason"]
    assert (workspace / "notes.py").read_text() == MINE
    assert changes(workspace) == ["?? notes.py"]


async def killed_after_accept_edit(workspace, settings) -> None:
    """A server reviewing by command, killed once it has written the accepted change and
    waits to commit it (its branch's ref held by another git process)."""
    caps = client_capabilities("visual-studio-code")
    caps.workspace.workspace_edit.change_annotation_support = None
    first = LanguageClient()
    await first.start_io(sys.executable, "-m", "mlr_copilot.cli", "serve", env=SERVER_ENV)
    pending = None
    try:
        await asyncio.wait_for(first.initialize_session(types.InitializeParams(
            capabilities=caps, root_uri=workspace.as_uri(), initialization_options={"settings": settings},
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")])), 60)
        await asyncio.wait_for(propose(first, workspace), 120)
        await asyncio.wait_for(execute(first, "mlrCopilot.acceptHypothesis", "h1"), 60)
        pending = asyncio.ensure_future(execute(first, "mlrCopilot.implement", "h1"))
        proposals = workspace / ".mlr" / "proposals"
        assert await wait_for(lambda: proposals.is_dir() and any(proposals.glob("*/change.diff")), 60)
        branch = git(workspace, "branch", "--show-current").strip()
        lock = workspace / ".git" / "refs" / "heads" / f"{branch}.lock"
        lock.write_text("")
        await asyncio.wait_for(execute(first, "mlrCopilot.acceptEdit", next(proposals.iterdir()).name), 60)
        assert await wait_for(lambda: "TfidfVectorizer" in (workspace / "train.py").read_text(), 30)
        assert list(workspace.glob(".mlr/txn/*.json"))
        # killed between two tries of its commit, as a kill of a git command itself is git's to recover from
        assert await wait_for(lambda: not git_processes_in(workspace), 30)
        first._server.kill()
        await first._server.wait()
        # a `git commit` it had started outlives it, and would commit once the lock is gone
        assert await wait_for(lambda: not git_processes_in(workspace), 30)
        lock.unlink()
    finally:
        if pending is not None:
            pending.cancel()
        if first._server is not None and first._server.returncode is None:
            first._server.kill()
        await first.stop()


async def test_a_server_killed_after_accept_edit_is_settled_by_the_next_one(client, tmp_path):
    edit, done = [r for r in demo_records() if r["call"] == "implement.step"]
    # the killed server used the first edit; the next one proposes it again
    workspace, settings = scripted_workspace(tmp_path, drop=("implement.step",), extra=[edit, edit, done])
    (workspace / "notes.txt").write_text(MINE)
    await killed_after_accept_edit(workspace, settings)
    assert "train.py" in git(workspace, "status", "--porcelain")  # the half-applied change

    answer_edits(client, [True])
    await start(client, workspace, settings=settings)
    await execute(client, "mlrCopilot.status")  # answered once start-up is done
    assert changes(workspace) == ["?? notes.txt"]
    assert not list(workspace.glob(".mlr/txn/*.json"))
    result = await asyncio.wait_for(execute(client, "mlrCopilot.implement", "h1"), 120)
    assert result["status"] == "done" and len(result["commits"]) == 1
    assert changes(workspace) == ["?? notes.txt"] and (workspace / "notes.txt").read_text() == MINE
