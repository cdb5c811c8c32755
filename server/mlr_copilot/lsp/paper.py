"""The parsed paper in the editor: `mlrCopilot.showPaper [pdf]` returns it as a Markdown outline,
which the client opens in an untitled editor, so a wrong parse is seen before it drives the ideas."""

from __future__ import annotations

from ..errors import MlrError
from .progress import progress
from .server import MlrServer, arg, command


def setup(server: MlrServer) -> None:
    @command(server, "mlrCopilot.showPaper", "Show parsed paper")
    async def show_paper(ls: MlrServer, *args) -> str:
        pdf = arg(args, 0)
        if not pdf:
            raise MlrError("Show parsed paper needs the PDF's URI or path as its argument")
        async with progress(ls, "MLR-Copilot: reading the paper") as work:
            return await ls.tasks.run("Show parsed paper", ls.engine.paper_markdown(str(pdf), work))
