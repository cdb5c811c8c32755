"""The tree search in the editor: start or resume a search (a long job with progress and
cancel), the latest session's tree, a node improved, debugged, pruned or promoted, and a node
compared with its parent. While a search or a node action runs, the client is told each time
the journal changes (`mlrCopilot/searchChanged`), so its tree follows the search live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, get_args

from ..errors import MlrError
from ..history.search_tree import compare_with_parent, latest_journal, search_tree
from ..search.model import NodeActionName
from .arguments import InvalidArguments, arg, option
from .feature import Feature, command
from .progress import progress
from .results import to_json

log = logging.getLogger(__name__)

SEARCH_CHANGED = "mlrCopilot/searchChanged"
# how often the journal is looked at while the server runs a search (a stat, off the loop)
WATCH_S = 0.5


class SearchFeature(Feature):
    """No state of its own: the journal lives in `.mlr/search/<session>/`, read afresh."""

    @command("mlrCopilot.search", "Search")
    async def search(self, *args: Any) -> Any:
        from ..search.loop import Search  # the agents: only once a search is asked for

        options = arg(args, 0, {}, dict, "the search options")
        resume = option(options, "resume", bool) is True
        hypotheses = option(options, "hypotheses", int)
        if hypotheses is not None and hypotheses < 1:
            raise InvalidArguments("hypotheses must be at least 1")
        ls = self.server
        title = "Resume search" if resume else "Search"
        async with progress(ls, f"MLR-Copilot: {'resuming the search' if resume else 'searching'}") as work, \
                self.watching():
            journal = await ls.jobs.run(title, Search(ls.engine, work).run(hypotheses=hypotheses, resume=resume))
        return to_json(search_tree(journal))

    @command("mlrCopilot.searchTree", "Show the search tree")
    async def tree(self, *args: Any) -> Any:
        session = arg(args, 0, None, str, "the session")
        journal = await asyncio.to_thread(latest_journal, self.server.engine, session)
        return None if journal is None else to_json(search_tree(journal))

    @command("mlrCopilot.searchAct", "Act on a search node")
    async def act(self, *args: Any) -> Any:
        actions = get_args(NodeActionName)
        node = arg(args, 0, "", str, "the node id")
        action = arg(args, 1, "", str, "the action")
        if not node:
            raise InvalidArguments("the node id is missing")
        if action not in actions:
            raise InvalidArguments(f"the action must be one of {', '.join(actions)}, not {action!r}")
        options = arg(args, 2, {}, dict, "the action options")
        instruction = option(options, "instruction", str) or ""
        session = option(options, "session", str)
        ls = self.server
        async with progress(ls, f"MLR-Copilot: {action} {node}") as work, self.watching():
            result = await ls.jobs.run(f"{action.capitalize()} {node}", ls.engine.search_act(
                work, node, action, instruction=instruction, session=session))
        return to_json(result)

    @command("mlrCopilot.searchCompare", "Compare a search node with its parent")
    async def compare(self, *args: Any) -> Any:
        node = arg(args, 0, "", str, "the node id")
        session = arg(args, 1, None, str, "the session")
        engine = self.server.engine

        def compared() -> Any:
            journal = latest_journal(engine, session)
            if journal is None:
                raise MlrError("no search session in this workspace yet: start one with 'MLR-Copilot: Start Search'")
            return compare_with_parent(engine, journal, node)

        return to_json(await asyncio.to_thread(compared))

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """While the block runs, `mlrCopilot/searchChanged` after each write of the latest
        journal (a new session counts), and once more at the end."""
        root = self.server.engine.workspace
        seen = await asyncio.to_thread(journal_stamp, root)
        watcher = asyncio.create_task(self._watch(root, seen))
        try:
            yield
        finally:
            watcher.cancel()
            self.changed(await asyncio.to_thread(journal_stamp, root))

    async def _watch(self, root: Path, seen: tuple[str, int] | None) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            stamp = await asyncio.to_thread(journal_stamp, root)
            if stamp != seen:
                seen = stamp
                self.changed(stamp)

    def changed(self, stamp: tuple[str, int] | None) -> None:
        if stamp is not None:
            self.server.protocol.notify(SEARCH_CHANGED, {"session": stamp[0]})


def journal_stamp(root: Path) -> tuple[str, int] | None:
    """The latest session and when its journal was last written; None before any search."""
    from ..search import store

    try:
        session = store.latest_session(root)
        return session, store.journal_path(root, session).stat().st_mtime_ns
    except (MlrError, OSError):
        return None
