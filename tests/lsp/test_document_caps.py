"""The work one document can cause is capped: a hypotheses document far past anything the
server writes gets its lenses quickly, capped, with one warning."""

from __future__ import annotations

from lsprotocol import types

from .conftest import start, wait_for
from .test_ideas_editor import open_document


def markers(count: int, padding: int = 0) -> str:
    return "".join(f"<!-- mlr:hypothesis h{n} -->\n## {n}. Idea\n{'x' * padding}\n" for n in range(count))


async def lenses_of(client, uri: str) -> list[types.CodeLens]:
    return await client.text_document_code_lens_async(types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))


def warnings(client) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Warning]


async def test_lenses_stop_at_200_hypotheses_with_one_warning(client, tmp_path):
    await start(client, tmp_path)
    folder = tmp_path / "research" / "p"
    folder.mkdir(parents=True)
    uri = open_document(client, folder / "hypotheses.md", markers(5000))
    lenses = await lenses_of(client, uri)
    assert {lens.command.arguments[0] for lens in lenses} == {f"h{n}" for n in range(200)}
    assert len(lenses) == 200 * 3
    await lenses_of(client, uri)  # asked again on every edit: warned once
    assert await wait_for(lambda: warnings(client))
    [warning] = [w for w in warnings(client) if "hypothesis markers" in w]
    assert "5000 hypothesis markers" in warning and "first 200" in warning


async def test_a_50_mb_hypotheses_document_gets_no_lenses_and_a_warning(client, tmp_path):
    await start(client, tmp_path)
    folder = tmp_path / "research" / "big"
    folder.mkdir(parents=True)
    text = markers(450_000, padding=60)
    assert len(text) > 45 * 2**20
    (folder / "hypotheses.md").write_text(text)
    uri = open_document(client, folder / "hypotheses.md", text)
    assert not await lenses_of(client, uri)
    assert await wait_for(lambda: any("46.6 MB: no lenses on a hypotheses document over 2 MB" in w for w in warnings(client)))
    # and a 3 MB one the editor holds, unsaved
    (tmp_path / "research" / "unsaved").mkdir()
    uri = open_document(client, tmp_path / "research" / "unsaved" / "hypotheses.md", markers(30_000, padding=60))
    assert not await lenses_of(client, uri)
    assert await wait_for(lambda: any("3.0 MB: no lenses" in w for w in warnings(client)))


async def test_a_document_over_8_mb_is_read_from_disk(client, tmp_path):
    await start(client, tmp_path)
    folder = tmp_path / "research" / "p"
    folder.mkdir(parents=True)
    (folder / "hypotheses.md").write_text(markers(2))
    uri = open_document(client, folder / "hypotheses.md", markers(1000, padding=10_000))  # 10 MB, unsaved
    assert len(await lenses_of(client, uri)) == 2 * 3


async def test_an_edit_too_costly_to_follow_leaves_the_document_read_from_disk(client, tmp_path):
    await start(client, tmp_path)
    folder = tmp_path / "research" / "p"
    folder.mkdir(parents=True)
    (folder / "hypotheses.md").write_text(markers(2))
    uri = open_document(client, folder / "hypotheses.md", markers(3) + "x = 1\n" * 200_000)  # 1.2 MB
    assert len(await lenses_of(client, uri)) == 3 * 3
    change = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)), text="")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2), content_changes=[change] * 20))
    assert await wait_for(lambda: any("too large to follow edit by edit" in w for w in warnings(client)))
    assert len(await lenses_of(client, uri)) == 2 * 3


async def test_quick_fixes_stop_at_50_diagnostics(client, tmp_path):
    await start(client, tmp_path)
    diagnostic = types.Diagnostic(range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=1)),
                                  message="boom", source="mlr-copilot", data={"run_id": "r1", "index": 0})
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=(tmp_path / "train.py").as_uri()),
        range=diagnostic.range, context=types.CodeActionContext(diagnostics=[diagnostic] * 10_000)))
    assert len(actions) == 50 * 2


async def test_lenses_follow_the_editor_in_a_folder_with_a_space(client, tmp_path):
    await start(client, tmp_path)
    folder = tmp_path / "research" / "my paper"
    folder.mkdir(parents=True)
    (folder / "hypotheses.md").write_text(markers(1))
    uri = open_document(client, folder / "hypotheses.md", markers(4))  # the URI says %20
    assert "%20" in uri
    assert len(await lenses_of(client, uri)) == 4 * 3
