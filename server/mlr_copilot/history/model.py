"""The history table as a pydantic model, for the editor: the server sends a model's JSON, a
diverged run's NaN as null (lsp/results.to_json). The table itself is `store.HistoryTable`, a
plain record (`plain.py`), so the CLI's `history` starts without pydantic."""

from __future__ import annotations

from pydantic import RootModel

from .store import HistoryTable


class HistoryModel(RootModel[HistoryTable]):
    """`HistoryTable`, dumped as its fields."""
