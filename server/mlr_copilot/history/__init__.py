"""Run history: records tied to commits, summarised in git notes and in a table per branch."""

from .store import HistoryRow, HistoryTable, history, load_runs

__all__ = ["HistoryRow", "HistoryTable", "history", "load_runs"]
