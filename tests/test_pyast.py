"""Every parse of Python source in the server goes through `mlr_copilot.pyast`, whose lock
keeps CPython 3.11's AST constructor from mixing two threads' recursion counts."""

from __future__ import annotations

import ast
import gc
import sys
import threading
import time
from pathlib import Path

from mlr_copilot import pyast

SERVER = Path(__file__).resolve().parents[1] / "server" / "mlr_copilot"
PARSERS = {"parse", "PyCF_ONLY_AST", "literal_eval"}

# Deep nesting plus many definitions: a long conversion with a high recursion count, the
# shape that made unlocked `ast.parse` raise SystemError on 3.11.7 under this load.
DEEP = "x = " + "(" * 90 + "1" + ")" * 90 + "\n" + "\n".join(
    f"def f{i}(a, b):\n    return [a + b * {i} for _ in range(3)]" for i in range(40)
)


class _Yields:
    """Cyclic garbage whose finaliser gives the GIL away: a collection during one thread's
    AST conversion then runs another thread's parse in the middle of it."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def test_many_threads_parsing_deep_sources_never_raise():
    errors: list[BaseException] = []
    parsed: list[int] = []

    def work() -> None:
        try:
            for _ in range(40):
                for _ in range(5):
                    _Yields()
                parsed.append(len(pyast.parse(DEEP, "deep.py").body))
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    # Frequent collections and GIL hand-offs: without the lock this load raises within a
    # second on 3.11.7.
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(200, 5, 5)
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)
    assert errors == []
    assert parsed == [41] * (8 * 40)


def test_parse_errors_are_those_of_ast_parse():
    try:
        pyast.parse("def (:\n", "broken.py")
    except SyntaxError as exc:
        assert exc.filename == "broken.py"
    else:
        raise AssertionError("a syntax error parsed")


def _direct_parses(path: Path) -> list[int]:
    """Lines of `path` that parse Python without the helper: `ast.parse` under any alias of
    `ast`, `from ast import parse`, `compile(..., PyCF_ONLY_AST)`, or `literal_eval` (which
    calls `ast.parse`)."""
    tree = pyast.parse(path.read_bytes(), str(path))
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "ast"
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if node.attr in PARSERS:
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "ast" and any(
            alias.name in {*PARSERS, "*"} for alias in node.names
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_but_the_helper_calls_ast_parse():
    offenders = [
        f"{path.relative_to(SERVER)}:{line}"
        for path in sorted(SERVER.rglob("*.py"))
        if path != SERVER / "pyast.py"
        for line in _direct_parses(path)
    ]
    assert offenders == []


def test_the_scan_finds_a_direct_call(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import ast as a\nfrom ast import parse\ntree = a.parse('x')\nv = a.literal_eval('1')\n"
                      "# ast.parse(text) in a comment is no call\n")
    assert sorted(_direct_parses(sample)) == [2, 3, 4]
