"""Errors the retrieval phase shows to the user."""

from __future__ import annotations

from mlr_copilot.errors import MlrError


class RetrievalError(MlrError):
    """A retrieval input (library folder, code source) is unusable."""


class RetrievalCancelled(MlrError):
    """The user cancelled a long retrieval step; work done so far is kept in the cache."""
