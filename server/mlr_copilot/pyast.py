"""The one place the server turns Python source into an `ast` tree.

CPython 3.11 counts the AST constructor's recursion depth in interpreter-wide state, and a
garbage collection inside the conversion can hand the GIL to another thread that is parsing
too; the two counts then mix and `ast.parse` raises `SystemError: AST constructor recursion
depth mismatch` (https://github.com/python/cpython/issues/106905, fixed upstream by
python/cpython#113035; the 3.11.7 we run still has it). Repo maps, code retrieval and run
provenance parse from worker threads at the same time (`eval --compare --parallel 2` hit it),
so every parse in the server goes through one process-wide lock here.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse`, one thread at a time. Raises what `ast.parse` raises (SyntaxError,
    ValueError, RecursionError, MemoryError)."""
    with _LOCK:
        return ast.parse(source, filename=filename)
