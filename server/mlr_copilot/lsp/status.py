"""`mlrCopilot.status`: the server's state at a glance."""

from __future__ import annotations

from typing import Any

from .feature import Feature, command
from .results import to_json


class StatusFeature(Feature):
    """No state of its own: the engine's status with the server's running jobs."""

    @command("mlrCopilot.status", "Show status")
    async def status(self, *args: Any) -> Any:
        return to_json(self.server.engine.status(self.server.jobs.running()))
