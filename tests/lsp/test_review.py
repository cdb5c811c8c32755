"""A refactor preview with some changes unticked: the client answers workspace/applyEdit with
applied: true having applied only part of the change, and the server commits exactly that."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from .conftest import execute, start
from .test_flow import git, propose, scripted_workspace

TWO_FILES = """SUMMARY: Logistic regression and a second metric
WHY: A linear model over counts, and accuracy next to macro F1.

train.py
<<<<<<< SEARCH
from sklearn.naive_bayes import MultinomialNB
=======
from sklearn.linear_model import LogisticRegression
>>>>>>> REPLACE

train.py
<<<<<<< SEARCH
    model = MultinomialNB()
=======
    model = LogisticRegression(max_iter=1000)
>>>>>>> REPLACE

evaluate.py
<<<<<<< SEARCH
METRIC = "macro_f1"
=======
METRIC = "macro_f1"
SECOND_METRIC = "accuracy"
>>>>>>> REPLACE
"""


def offset(text: str, position: types.Position) -> int:
    lines = text.splitlines(keepends=True)
    return sum(len(line) for line in lines[: position.line]) + position.character


def apply_text_edits(text: str, edits: list) -> str:
    """`edits` applied to `text` as an editor does (ranges in the original text)."""
    for e in sorted(edits, key=lambda e: offset(text, e.range.start), reverse=True):
        text = text[: offset(text, e.range.start)] + e.new_text + text[offset(text, e.range.end):]
    return text


def document_edits(params: types.ApplyWorkspaceEditParams) -> dict[str, list]:
    """The text edits of the workspace edit, by file name."""
    return {Path(to_fs_path(op.text_document.uri)).name: op.edits
            for op in params.edit.document_changes if isinstance(op, types.TextDocumentEdit)}


async def accepted_h1(client, tmp_path: Path) -> Path:
    workspace, settings = scripted_workspace(tmp_path, drop=("implement.step",), extra=[
        {"call": "implement.step", "response": TWO_FILES},
        {"call": "implement.step", "response": "DONE: as reviewed", "expect": ["left out in review: evaluate.py"]},
    ])
    await start(client, workspace, settings=settings)
    await propose(client, workspace)
    await execute(client, "mlrCopilot.acceptHypothesis", "h1")
    return workspace


async def test_only_the_files_the_client_applied_are_committed(client, tmp_path):
    workspace = await accepted_h1(client, tmp_path)
    evaluate_before = (workspace / "evaluate.py").read_bytes()

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def tick_train_only(params: types.ApplyWorkspaceEditParams):
        # as VS Code does with evaluate.py unticked: apply and save train.py only
        train = workspace / "train.py"
        train.write_text(apply_text_edits(train.read_text(), document_edits(params)["train.py"]))
        return types.ApplyWorkspaceEditResult(applied=True)

    result = await execute(client, "mlrCopilot.implement", "h1")
    assert result["status"] == "done" and len(result["commits"]) == 1
    assert result["steps"][0]["reason"] == "left out in review: evaluate.py"
    assert git(workspace, "show", "--name-only", "--format=", "HEAD").split() == ["train.py"]
    assert "LogisticRegression(max_iter=1000)" in git(workspace, "show", "HEAD:train.py")
    assert (workspace / "evaluate.py").read_bytes() == evaluate_before
    assert git(workspace, "status", "--porcelain", "--untracked-files=no") == ""


async def test_a_partly_applied_unsaved_document_is_committed_as_the_client_has_it(client, tmp_path):
    workspace = await accepted_h1(client, tmp_path)
    train = workspace / "train.py"
    uri = train.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=train.read_text())))
    buffer: dict[str, str] = {}

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def tick_first_hunk_without_saving(params: types.ApplyWorkspaceEditParams):
        edits = document_edits(params)["train.py"]
        assert len(edits) == 2
        buffer["text"] = apply_text_edits(train.read_text(), edits[:1])
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=buffer["text"])]))
        return types.ApplyWorkspaceEditResult(applied=True)

    result = await execute(client, "mlrCopilot.implement", "h1")
    assert len(result["commits"]) == 1 and result["steps"][0]["reason"] == "left out in review: evaluate.py"
    committed = git(workspace, "show", "HEAD:train.py")
    assert committed == buffer["text"] == train.read_text()
    assert "import LogisticRegression" in committed and "model = MultinomialNB()" in committed
    assert git(workspace, "show", "--name-only", "--format=", "HEAD").split() == ["train.py"]


async def test_a_client_that_applies_nothing_it_reports_gets_the_whole_change_written(client, tmp_path):
    """applied: true with no file changed where the server can see it: the client edited
    buffers it does not sync, so the server writes and commits the change as accepted."""
    workspace, settings = scripted_workspace(tmp_path)
    await start(client, workspace, settings=settings)
    await propose(client, workspace)
    await execute(client, "mlrCopilot.acceptHypothesis", "h1")

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_out_of_sight(params: types.ApplyWorkspaceEditParams):
        return types.ApplyWorkspaceEditResult(applied=True)

    result = await execute(client, "mlrCopilot.implement", "h1")
    assert len(result["commits"]) == 1 and result["steps"][0]["reason"] == ""
    assert "TfidfVectorizer" in git(workspace, "show", "HEAD:train.py")
    assert "TfidfVectorizer" in (workspace / "train.py").read_text()
