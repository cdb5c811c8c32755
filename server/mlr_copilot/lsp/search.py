"""The tree search in the editor: start or resume a search (a long job with progress and
cancel), the latest session's tree, a node improved, debugged, pruned or promoted, and a node
compared with its parent. The client is told each time the latest session changes on disk
(`mlrCopilot/searchChanged`), whoever writes it: a search the server runs, or one started in a
terminal (`mlr-copilot search`), so its tree follows every search live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from ..errors import MlrError
from ..history.search_tree import compare_with_parent, latest_journal, search_tree
from ..search.model import NodeActionName
from .arguments import InvalidArguments, arg, option
from .feature import Feature, command
from .progress import progress
from .results import to_json

if TYPE_CHECKING:
    from .server import MlrServer

log = logging.getLogger(__name__)

SEARCH_CHANGED = "mlrCopilot/searchChanged"
# how often the latest session is looked at: one listing of its directory, off the loop
# (0.3 ms of CPU a look, 0.05% of a core: bench/bench_search_watch.py), so it runs as long as the server
WATCH_S = 0.5
# a session's latest writes: each file of its directory with its size and time of change
Stamp = tuple[str, tuple[tuple[str, int, int], ...]]


class SearchFeature(Feature):
    """The journal lives in `.mlr/search/<session>/`, read afresh; the feature keeps only what
    it last saw there, to tell the client of a change once."""

    def __init__(self, server: MlrServer) -> None:
        super().__init__(server)
        self.seen: Stamp | None = None
        self._looking = asyncio.Lock()

    async def ready(self) -> None:
        with contextlib.suppress(MlrError):  # no workspace: each look finds none and does nothing
            self.seen = await asyncio.to_thread(session_stamp, self.server.engine.workspace)
        self.server.in_background(self._watch())

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
        # the session's objective goes with each of its runs: the server's later runs keep the workspace's
        async with progress(ls, f"MLR-Copilot: {'resuming the search' if resume else 'searching'}") as work:
            try:
                journal = await ls.jobs.run(title, Search(ls.engine, work).run(
                    hypotheses=hypotheses, resume=resume))
            finally:
                await self.look()
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
        async with progress(ls, f"MLR-Copilot: {action} {node}") as work:
            try:
                # taking the request opens the session, whose objective goes with its runs only, as in `search`
                result = await ls.jobs.run(f"{action.capitalize()} {node}", ls.engine.search_act(
                    work, node, action, instruction=instruction, session=session))
            finally:
                await self.look()
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

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                await self.look()
            except Exception:  # the watch lives on: the next look may succeed
                log.exception("could not look at the search session")

    async def look(self) -> None:
        """`mlrCopilot/searchChanged` when the latest session changed since the last look (a
        new session counts), with what its journal holds now."""
        async with self._looking:  # one look at a time: a change is told once
            try:
                root = self.server.engine.workspace
            except MlrError:  # no workspace (its folder could not be opened): nothing to watch
                return
            stamp = await asyncio.to_thread(session_stamp, root)
            if stamp is None or stamp == self.seen:
                return
            self.seen = stamp
            self.server.protocol.notify(SEARCH_CHANGED, await asyncio.to_thread(changed, root, stamp[0]))


def session_stamp(root: Path) -> Stamp | None:
    """The latest session and its files as they are now; None before any search. Its whole
    directory is listed, so a change is seen whichever of its files the search wrote."""
    from ..search import store

    try:
        session = store.latest_session(root)
        with os.scandir(store.journal_path(root, session).parent) as entries:
            files = [(e.name, e.stat()) for e in entries if e.is_file()]
    except (MlrError, OSError):
        return None
    return session, tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in files))


def changed(root: Path, session: str) -> dict[str, Any]:
    """What the client is told of a change: the session, and its status and node count as the
    journal's reader finds them (only the session while a write leaves it unreadable)."""
    from ..search import store

    try:
        journal = store.load(root, session)
    except MlrError as exc:
        log.info("search %s changed but cannot be read now: %s", session, exc)
        return {"session": session}
    return {"session": session, "status": journal.status, "nodes": len(journal.nodes)}
