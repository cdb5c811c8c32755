"""Every editor feature of the server, built here so each one's dependencies on the others
are visible in one place. A new feature is one module under `lsp/` plus one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .diagnostics import DiagnosticsFeature
from .feature import Feature
from .ideas import IdeasFeature
from .implement import ImplementFeature
from .paper import PaperFeature
from .queue import QueueFeature
from .review import ReviewFeature
from .run import RunFeature
from .search import SearchFeature
from .status import StatusFeature

if TYPE_CHECKING:
    from .server import MlrServer


def create(server: MlrServer) -> list[Feature]:
    review = ReviewFeature(server)
    diagnostics = DiagnosticsFeature(server)
    return [
        StatusFeature(server),
        PaperFeature(server),
        IdeasFeature(server),
        review,
        ImplementFeature(server, review),
        diagnostics,
        RunFeature(server, review, diagnostics),
        QueueFeature(server),
        SearchFeature(server),
    ]
