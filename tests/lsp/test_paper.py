"""The parsed paper as Markdown, asked of the real server by a real LSP client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tests.pdfs import SAMPLE_TITLE, make_paper_pdf

from .conftest import execute, start


async def test_show_paper_returns_the_outline_for_a_uri_or_a_workspace_path(client, tmp_path):
    pdf = make_paper_pdf(tmp_path / "paper.pdf")
    result = await start(client, tmp_path)
    assert "mlrCopilot.showPaper" in result.capabilities.execute_command_provider.commands

    markdown = await execute(client, "mlrCopilot.showPaper", pdf.as_uri())
    lines = markdown.splitlines()
    assert lines[0] == f"# {SAMPLE_TITLE}"
    assert "## Abstract" in lines and "## 1 Introduction" in lines and "## References" in lines
    references = lines[lines.index("## References") + 2:]
    assert references[0].startswith("1. ") and references[1].startswith("2. ")
    assert await execute(client, "mlrCopilot.showPaper", "paper.pdf") == markdown


async def test_show_paper_names_a_missing_file_or_argument_in_one_line(client, tmp_path):
    await start(client, tmp_path)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "mlrCopilot.showPaper", str(tmp_path / "absent.pdf"))
    assert "absent.pdf: no such file" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(JsonRpcException, match="needs the PDF"):
        await execute(client, "mlrCopilot.showPaper")


def test_the_editor_palette_command_calls_the_served_one():
    """The VS Code extension's palette entry, its call and the server's command agree."""
    root = Path(__file__).resolve().parents[2] / "client-vscode"
    contributed = {c["command"] for c in json.loads((root / "package.json").read_text())["contributes"]["commands"]}
    assert "mlrCopilot.client.showPaper" in contributed
    assert 'register("showPaper"' in (root / "src" / "commands.ts").read_text()
    assert 'showPaper: "mlrCopilot.showPaper"' in (root / "src" / "protocol.ts").read_text()
