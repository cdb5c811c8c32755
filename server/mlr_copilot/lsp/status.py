"""`mlrCopilot.status`: the server's state at a glance."""

from __future__ import annotations

from .server import MlrServer, command


def setup(server: MlrServer) -> None:
    @command(server, "mlrCopilot.status", "Show status")
    async def status(ls: MlrServer, *args) -> dict:
        return ls.engine.status(ls.tasks.running()).model_dump(mode="json")
