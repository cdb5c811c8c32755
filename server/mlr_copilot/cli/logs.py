"""The command line's log lines: on stderr, quoted text kept visible."""

from __future__ import annotations

import logging
import sys

from ..untrusted import visible


class VisibleFormatter(logging.Formatter):
    """Log lines quote LLM replies and file names too: their control characters stay visible."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(VisibleFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
