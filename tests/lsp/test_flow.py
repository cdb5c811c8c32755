"""The whole loop through a real LSP client: propose hypotheses from a real PDF, decide with the
lenses' commands, implement with reviewed edits answered by the client, run the experiment,
see the planted failure as a diagnostic, fix it through the quick fix, read the history."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import client_capabilities

from mlr_copilot.autonomous.bundled import bundled_task, copy_task
from mlr_copilot.autonomous.demo import demo_files
from tests.gitutil import git

from .conftest import execute, start, wait_for


def scripted_workspace(tmp_path: Path, extra: list[dict] | None = None, drop: tuple[str, ...] = ()) -> tuple[Path, dict]:
    """A git workspace holding the demo task and paper, and settings replaying the demo script
    (less the calls in `drop`, plus `extra` records)."""
    workspace = copy_task(bundled_task("review-sentiment"), tmp_path / "ws")
    paper, script = demo_files()
    shutil.copyfile(paper, workspace / "paper.pdf")
    records = [json.loads(line) for line in script.read_text().splitlines() if line.strip()]
    records = [r for r in records if r["call"] not in drop] + (extra or [])
    own = tmp_path / "script.jsonl"
    own.write_text("".join(json.dumps(r) + "\n" for r in records))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "starter"]):
        git(workspace, *args)
    settings = {"llm": {"provider": "scripted", "script": str(own)}, "ideas": {"hypotheses": 3, "online": False},
                "run": {"runner": "local", "timeout": 300}}
    return workspace, settings


def answer_edits(client, answers: list[bool]):
    """Answer each workspace/applyEdit with the next of `answers`; record what was asked."""
    asked: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        asked.append(params)
        ok = answers.pop(0)
        return types.ApplyWorkspaceEditResult(applied=ok, failure_reason=None if ok else "not this one")

    return asked


def action_command(action) -> dict:
    """The command of a code action as plain data. pytest-lsp's client reads a CodeAction
    carrying a command as a bare Command whose `command` holds the nested command's repr."""
    import ast

    if isinstance(action, types.CodeAction):
        return {"command": action.command.command, "arguments": action.command.arguments}
    return ast.literal_eval(action.command)


async def propose(client, workspace: Path) -> dict:
    result = await execute(client, "mlrCopilot.proposeHypotheses", (workspace / "paper.pdf").as_uri())
    return result


# the reply to a refinement of h2, and its assessment: shared by the tests that refine
REFINED = {"title": "Negation scope marking with bigrams", "problem": "Negation flips polarity.",
           "method": "Mark negation scope and add word bigrams.", "rationale": "Both local order cues.",
           "plan": {"dataset": "reviews", "model": "naive Bayes", "baseline": "unigram NB", "metric": "macro_f1",
                    "direction": "maximize", "steps": ["mark scope", "add bigrams"], "expected_improvement": "+10%"},
           "related": []}
ASSESSED = {"assessments": [{"index": 1, "closest_work": "none", "novelty_note": "n", "novelty": 6,
                             "feasibility": 9, "expected_gain": 7, "reasons": "r"}]}


async def test_ideas_lenses_and_decisions(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path, extra=[
        {"call": "ideas.refine", "response": REFINED, "expect": ["add bigrams too"]},
        {"call": "ideas.assess", "response": ASSESSED}])
    await start(client, workspace, settings=settings)
    result = await propose(client, workspace)
    document = Path(result["document"].removeprefix("file://"))
    assert document == workspace / "research" / "revisiting-bag-of-words-baselines-for-text" / "hypotheses.md" or document.name == "hypotheses.md"
    assert [h["id"] for h in result["hypotheses"]] == ["h1", "h2", "h3"]
    text = document.read_text()
    for heading in ("**Problem.**", "**Method.**", "**Rationale.**", "**Experiment plan**", "Metric: macro_f1 (maximize)",
                    "**Related work**", "[references: ref:4]", "**Novelty.** Closest work: Baselines and bigrams"):
        assert heading in text
    # progress was reported and ended
    reports = [v for values in client.progress_reports.values() for v in values]
    assert any(isinstance(v, types.WorkDoneProgressBegin) for v in reports)
    assert any(isinstance(v, types.WorkDoneProgressEnd) for v in reports)

    uri = document.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=text)))
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    titles = [(lens.command.title, lens.command.arguments[0]) for lens in lenses]
    assert ("Accept", "h1") in titles and ("Reject", "h2") in titles and ("Refine", "h3") in titles

    await execute(client, "mlrCopilot.acceptHypothesis", "h1")
    await execute(client, "mlrCopilot.rejectHypothesis", "h2", "too close to known work")
    refined = await execute(client, "mlrCopilot.refineHypothesis", "h2", "add bigrams too")
    assert refined["title"] == "Negation scope marking with bigrams" and refined["status"] == "proposed"
    assert client.lens_refreshes >= 4  # after the proposal and each decision
    listed = {h["id"]: h["status"] for h in await execute(client, "mlrCopilot.listHypotheses")}
    assert listed == {"h1": "accepted", "h2": "proposed", "h3": "proposed"}
    stored = json.loads(next((workspace / ".mlr" / "ideas").glob("*/run.json")).read_text())
    h2 = next(h for h in stored["hypotheses"] if h["id"] == "h2")
    assert h2["feedback"] == ["add bigrams too"]
    assert [d["status"] for d in h2["history"]] == ["rejected", "proposed"]
    assert "status: **ACCEPTED**" in document.read_text()
    # the decisions never dirty the tree the agent commits to
    assert git(workspace, "status", "--porcelain", "--untracked-files=no") == ""


async def test_bad_pdf_is_a_clear_error_and_writes_nothing(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path)
    (workspace / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf")
    await start(client, workspace, settings=settings)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "mlrCopilot.proposeHypotheses", str(workspace / "broken.pdf"))
    assert "broken.pdf" in str(info.value)
    assert not (workspace / "research").exists()
    assert not (workspace / ".mlr" / "ideas").exists() or not any((workspace / ".mlr" / "ideas").iterdir())


async def test_implement_run_fail_fix_history(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path)
    asked = answer_edits(client, [True, True])
    await start(client, workspace, settings=settings)
    baseline = await execute(client, "mlrCopilot.run")
    assert baseline["status"] == "passed" and baseline["primary_metric"] == "macro_f1"
    await propose(client, workspace)
    await execute(client, "mlrCopilot.acceptHypothesis", "h1")

    result = await execute(client, "mlrCopilot.implement", "h1")
    assert result["status"] == "done" and len(result["commits"]) == 1
    edit = asked[0].edit
    assert edit.change_annotations["mlr-change"].needs_confirmation is True
    assert all(e.annotation_id == "mlr-change" for op in edit.document_changes for e in op.edits)
    assert git(workspace, "branch", "--show-current").strip().startswith("mlr/h1-")
    message = git(workspace, "log", "-1", "--format=%B")
    assert "MLR-Hypothesis: h1" in message and "MLR-Step: 1" in message
    assert "TfidfVectorizer" in (workspace / "train.py").read_text()

    failed = await execute(client, "mlrCopilot.run")
    assert failed["status"] == "failed"
    train_uri = (workspace / "train.py").as_uri()
    for _ in range(100):
        if client.diagnostics.get(train_uri):
            break
        await asyncio.sleep(0.05)
    diagnostic = client.diagnostics[train_uri][0]
    assert "ValueError" in diagnostic.message and diagnostic.range.start.line == 19

    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=train_uri), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic])))
    titles = [a.title for a in actions]
    assert titles == ["Fix with MLR-Copilot", "Dismiss"]
    fix = action_command(actions[0])
    assert fix["command"] == "mlrCopilot.fix"
    fixed = await execute(client, fix["command"], *fix["arguments"])
    assert fixed["accepted"] is True and fixed["run"]["status"] == "passed"
    for _ in range(100):
        if not client.diagnostics.get(train_uri):
            break
        await asyncio.sleep(0.05)
    assert not client.diagnostics.get(train_uri)

    history = await execute(client, "mlrCopilot.history")
    rows = history["rows"]
    assert [r["status"] for r in rows] == ["passed", "failed", "passed"]
    assert rows[-1]["baseline"] is True
    assert rows[0]["delta"] > 0.10
    notes = git(workspace, "log", "--notes=mlr", "--format=%h %N")
    assert notes.count(baseline["id"]) == 1 and "passed" in notes


async def test_rejected_change_leaves_the_tree_as_it_was(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path, drop=("implement.step",), extra=[
        {"call": "implement.step", "response": json.loads(demo_files()[1].read_text().splitlines()[3])["response"]},
        {"call": "implement.step", "response": "DONE: the researcher rejected the change", "expect": ["not this one"]},
    ])
    asked = answer_edits(client, [False])
    (workspace / "notes.txt").write_text("my own untracked notes\n")
    await start(client, workspace, settings=settings)
    await propose(client, workspace)
    await execute(client, "mlrCopilot.acceptHypothesis", "h1")
    before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file() and ".git" not in p.parts and ".mlr" not in p.parts}
    result = await execute(client, "mlrCopilot.implement", "h1")
    assert len(asked) == 1
    assert result["commits"] == [] and result["steps"][0]["outcome"] == "rejected"
    after = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file() and ".git" not in p.parts and ".mlr" not in p.parts}
    assert after == before
    assert git(workspace, "log", "--format=%s", "-1").strip() == "starter"


async def test_dirty_tree_is_refused_without_touching_it(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path)
    await start(client, workspace, settings=settings)
    await propose(client, workspace)
    await execute(client, "mlrCopilot.acceptHypothesis", "h1")
    (workspace / "train.py").write_text((workspace / "train.py").read_text() + "# my unsaved idea\n")
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "mlrCopilot.implement", "h1")
    assert "train.py" in str(info.value) and "uncommitted" in str(info.value)
    assert (workspace / "train.py").read_text().endswith("# my unsaved idea\n")
    assert git(workspace, "branch", "--show-current").strip() in ("master", "main")


async def test_client_without_annotations_reviews_by_command(client, tmp_path):
    """A client that cannot show a refactor preview gets the proposal as files and a message,
    and answers with acceptEdit."""
    workspace, settings = scripted_workspace(tmp_path)
    caps = client_capabilities("visual-studio-code")
    caps.workspace.workspace_edit.change_annotation_support = None
    settings_copy = settings
    client.set_configuration(settings_copy, section="mlrCopilot")
    await client.initialize_session(types.InitializeParams(capabilities=caps, root_uri=workspace.as_uri(),
                                                           workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")]))
    await propose(client, workspace)
    await execute(client, "mlrCopilot.acceptHypothesis", "h1")
    pending = asyncio.ensure_future(execute(client, "mlrCopilot.implement", "h1"))
    proposals = workspace / ".mlr" / "proposals"
    assert await wait_for(lambda: proposals.is_dir() and any(proposals.glob("*/change.diff")), 30)
    folder = next(proposals.iterdir())
    assert "TfidfVectorizer" in (folder / "train.py").read_text()
    assert "-from sklearn.naive_bayes import MultinomialNB" in (folder / "change.diff").read_text()
    assert "MultinomialNB" in (workspace / "train.py").read_text()  # nothing applied before the answer
    # the message is sent in the server's own time, maybe just after the files are written
    assert await wait_for(lambda: any(folder.name in m.message for m in client.messages), 10)
    await execute(client, "mlrCopilot.acceptEdit", folder.name)
    result = await asyncio.wait_for(pending, 60)
    assert result["status"] == "done" and len(result["commits"]) == 1
    assert "TfidfVectorizer" in (workspace / "train.py").read_text()



async def test_undo_reverts_the_last_agent_commit_without_rewriting_history(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path)
    answer_edits(client, [True])
    await start(client, workspace, settings=settings)
    await propose(client, workspace)
    await execute(client, "mlrCopilot.acceptHypothesis", "h1")
    original = (workspace / "starter-train.py")
    original.write_text("")  # an untracked file of the user's, untouched by undo
    result = await execute(client, "mlrCopilot.implement", "h1")
    agent_commit = result["commits"][0]
    undone = await execute(client, "mlrCopilot.undo")
    assert undone["reverted"] is True
    log = git(workspace, "log", "--format=%H %s").splitlines()
    assert log[0].split()[0] == undone["commit"] and log[0].split(" ", 1)[1].startswith("Revert")
    assert log[1].split()[0] == agent_commit  # the agent commit is still in history
    assert "MultinomialNB" in (workspace / "train.py").read_text()
    assert original.exists()
    with pytest.raises(JsonRpcException, match="no MLR-Copilot commit to undo"):
        await execute(client, "mlrCopilot.undo")
