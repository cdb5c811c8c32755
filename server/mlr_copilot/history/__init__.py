"""Run history: records tied to commits, summarised in git notes and in a table per branch.

The table's names load on first use: every run imports `history.gitnotes`, and the table's
models are not needed for that."""

__all__ = ["HistoryRow", "HistoryTable", "history", "load_runs"]


def __getattr__(name: str):
    if name in __all__:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
