"""Run history: records tied to commits, summarised in git notes and in a table per branch.

The table's names load on first use: a package that needs one module of it (`compare`,
`tracking`) does not pay for the table's models."""

__all__ = ["HistoryRow", "HistoryTable", "history", "load_runs"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
