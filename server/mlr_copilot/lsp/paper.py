"""The parsed paper in the editor: `mlrCopilot.showPaper [pdf]` returns it as a Markdown outline,
which the client opens in an untitled editor, so a wrong parse is seen before it drives the ideas."""

from __future__ import annotations

from typing import Any

from ..errors import MlrError
from .arguments import arg
from .feature import Feature, command
from .progress import progress


class PaperFeature(Feature):
    """No state of its own."""

    @command("mlrCopilot.showPaper", "Show parsed paper")
    async def show_paper(self, *args: Any) -> str:
        pdf = arg(args, 0)
        if not pdf:
            raise MlrError("Show parsed paper needs the PDF's URI or path as its argument")
        ls = self.server
        async with progress(ls, "MLR-Copilot: reading the paper") as work:
            markdown: str = await ls.jobs.run("Show parsed paper", ls.engine.paper_markdown(str(pdf), work))
        return markdown
