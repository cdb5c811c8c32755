"""What can go wrong in a git operation on the workspace, one class per thing the user must do."""

from __future__ import annotations

from mlr_copilot.errors import MlrError


class GitWorkspaceError(MlrError):
    """A git operation on the workspace failed."""


class NotARepositoryError(GitWorkspaceError):
    pass


class NoCommitsError(GitWorkspaceError):
    pass


class DirtyTreeError(GitWorkspaceError):
    def __init__(self, message: str, paths: list[str]):
        super().__init__(message)
        self.paths = paths


class DetachedHeadError(GitWorkspaceError):
    pass


class OperationInProgressError(GitWorkspaceError):
    pass


class NothingToUndoError(GitWorkspaceError):
    pass


def list_paths(paths: list[str], limit: int = 15) -> str:
    """`paths` for a one-line message: the first `limit`, then how many more."""
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
