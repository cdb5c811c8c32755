"""The VS Code extension's copy of the history shapes (client-vscode/src/protocol.ts) names
only fields the server sends, so a renamed or dropped field fails here, not silently in the
editor (the Baseline node once read a `table.baseline` the server never had)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from mlr_copilot.history.store import HistoryRow, HistoryTable

PROTOCOL = Path(__file__).resolve().parents[2] / "client-vscode" / "src" / "protocol.ts"


def interface_fields(name: str) -> set[str]:
    body = re.search(rf"export interface {name} \{{\n(.*?)\n\}}", PROTOCOL.read_text(), re.S)
    assert body, f"protocol.ts has no interface {name}"
    return set(re.findall(r"^  (\w+)\??:", body.group(1), re.M))


@pytest.mark.parametrize("model", [HistoryRow, HistoryTable], ids=lambda m: m.__name__)
def test_the_client_reads_only_fields_the_server_sends(model: type[BaseModel]):
    client = interface_fields(model.__name__)
    assert client, "no fields parsed"
    assert client <= set(model.model_fields), f"protocol.ts {model.__name__} names fields the server never sends"


def test_the_client_declares_the_baseline_fields_it_reads():
    assert {"baseline_run", "baseline_value"} <= interface_fields("HistoryTable")
    assert {"baseline", "delta", "value", "metrics", "started_at"} <= interface_fields("HistoryRow")
