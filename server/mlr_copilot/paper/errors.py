"""Errors raised while reading a paper."""

from __future__ import annotations

from mlr_copilot.errors import MlrError


class PaperError(MlrError):
    """A paper file that cannot be read: the message names the file and the problem."""


class ParseCancelled(PaperError):
    """Reading a paper was stopped by its caller before it finished."""
