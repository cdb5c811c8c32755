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
def test_the_client_reads_only_fields_the_server_sends(model: type):
    client = interface_fields(model.__name__)
    assert client, "no fields parsed"
    # plain records (history/store.py), sent as their fields (history/model.py)
    sent = set(model._fields)
    assert client <= sent, f"protocol.ts {model.__name__} names fields the server never sends"


def test_the_client_declares_the_baseline_fields_it_reads():
    assert {"baseline_run", "baseline_value"} <= interface_fields("HistoryTable")
    assert {"baseline", "delta", "value", "metrics", "started_at"} <= interface_fields("HistoryRow")


# The rest of protocol.ts against the server: command ids both ways, and every result shape.


def server_commands() -> set[str]:
    from mlr_copilot.lsp.server import create_server

    return set(create_server().protocol.fm.commands)


def client_commands() -> set[str]:
    body = re.search(r"export const ServerCommand = \{\n(.*?)\n\}", PROTOCOL.read_text(), re.S)
    assert body, "protocol.ts has no ServerCommand"
    return set(re.findall(r'^  \w+: "([\w.]+)",?$', body.group(1), re.M))


# Server commands the extension never sends itself: the server's own quick fixes carry
# fix/dismiss, and acceptEdit/rejectEdit review changes in clients without change annotations
# (VS Code reviews through workspace/applyEdit).
NOT_SENT_BY_THE_EXTENSION = {"mlrCopilot.fix", "mlrCopilot.dismiss", "mlrCopilot.acceptEdit", "mlrCopilot.rejectEdit"}


def test_every_command_the_extension_sends_exists_on_the_server():
    client = client_commands()
    assert len(client) >= 10, "ServerCommand not parsed"
    assert client <= server_commands(), f"protocol.ts names commands the server lacks: {client - server_commands()}"


def test_every_server_command_meant_for_the_extension_is_in_protocol_ts():
    missing = server_commands() - NOT_SENT_BY_THE_EXTENSION - client_commands()
    assert not missing, f"protocol.ts lacks the server's commands {missing}"
    assert server_commands() >= NOT_SENT_BY_THE_EXTENSION


def result_models() -> dict[str, set[str]]:
    from mlr_copilot.history.compare import MetricChange, RunComparison, SettingPair
    from mlr_copilot.history.search_tree import NodeComparison
    from mlr_copilot.history.tree import SearchTree, SearchTreeNode
    from mlr_copilot.lsp import results
    from mlr_copilot.runners.batch import BatchItem
    from mlr_copilot.runners.envsummary import EnvironmentChange
    from mlr_copilot.runners.model import Failure, RunRecord
    from mlr_copilot.runners.queue import QueuedRun
    from mlr_copilot.search.model import NodeAction
    from mlr_copilot.workspace.checkout import RunCheckout

    models: list[type[BaseModel]] = [results.HypothesisInfo, results.ProposeResult, results.ImplementResult,
                                     results.UndoResult, Failure, BatchItem, RunCheckout, NodeComparison, NodeAction]
    fields = {model.__name__: set(model.model_fields) for model in models}
    # a plain record (runners/queue_records.py): `queue` starts without pydantic
    fields["QueuedRun"] = set(QueuedRun._fields)
    # plain records too (history/tree.py, history/compare.py): `history` and `compare` start
    # without pydantic
    for plain in (SearchTree, SearchTreeNode, RunComparison, MetricChange, SettingPair, EnvironmentChange):
        fields[plain.__name__] = set(plain._fields)
    # lsp/results.py `record_summary`: the record and its primary metric's value
    fields["RunRecord"] = set(RunRecord.model_fields) | {"value"}
    return fields


@pytest.mark.parametrize("interface", ["HypothesisInfo", "ProposeResult", "ImplementResult", "UndoResult",
                                       "Failure", "RunRecord", "RunComparison", "MetricChange", "SettingPair",
                                       "EnvironmentChange", "QueuedRun", "BatchItem", "RunCheckout",
                                       "SearchTree", "SearchTreeNode", "NodeComparison", "NodeAction"])
def test_every_result_field_the_client_reads_is_in_the_servers_result_model(interface: str):
    client = interface_fields(interface)
    assert client, "no fields parsed"
    server = result_models()[interface]
    assert client <= server, f"protocol.ts {interface} names fields the server never sends: {client - server}"


def test_the_status_fields_the_client_reads_are_what_the_engine_sends(tmp_path: Path):
    from mlr_copilot.engine import Engine
    from mlr_copilot.lsp.results import to_json

    status = Engine.load(tmp_path, None, None).status([])
    sent = to_json(status)  # as lsp/status.py sends it
    assert interface_fields("ServerStatus") <= set(sent)
    assert interface_fields("Usage") <= set(sent["usage"])
