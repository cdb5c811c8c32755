"""The command line's log lines: on stderr, quoted text kept visible.

Most light commands never log, and `logging` (with traceback, string, tokenize) is some 5 ms of
their start-up: it is configured as soon as anything imports it, before that module can log a
line, and not imported for the configuring alone."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from ..untrusted import visible


def configure_logging(verbose: bool) -> None:
    """INFO (with `verbose`) or WARNING and up on stderr, each line through `untrusted.visible`."""
    if "logging" in sys.modules:
        _configure(verbose)
    else:
        sys.meta_path.insert(0, _OnImport("logging", lambda: _configure(verbose)))


def _configure(verbose: bool) -> None:
    import logging  # imported by now (see `configure_logging`)

    class VisibleFormatter(logging.Formatter):
        """Log lines quote LLM replies and file names too: their control characters stay visible."""

        def format(self, record: logging.LogRecord) -> str:
            return visible(super().format(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(VisibleFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


class _OnImport:
    """A finder that runs `then` as soon as the module `name` is imported (its code run, before
    the importer gets it back), and then leaves `sys.meta_path`."""

    def __init__(self, name: str, then: Callable[[], None]):
        self._name = name
        self._then = then

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> Any:
        if name != self._name:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            spec = getattr(finder, "find_spec", lambda *_: None)(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def run_then(module: ModuleType) -> None:
            exec_module(module)
            self._then()

        spec.loader.exec_module = run_then
        return spec
