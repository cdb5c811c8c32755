"""The paper phase: a PDF file read into a `Paper` (title, authors, abstract, sections,
references)."""

from mlr_copilot.paper.errors import PaperError, ParseCancelled
from mlr_copilot.paper.model import Paper, Section
from mlr_copilot.paper.pdf import parse_pdf

__all__ = ["Paper", "PaperError", "ParseCancelled", "Section", "parse_pdf"]
