"""The editor server's watch of the latest search session (`lsp/search.py`): the CPU one look
costs, as the server makes it (a listing of the session's directory in a worker thread, awaited
on the event loop), in a workspace with several sessions and a session of many nodes. The server
looks every `WATCH_S` seconds for as long as it runs, so the figure that matters is the share of
one core the looks take: it must stay far below 1%.

    python bench/bench_search_watch.py [--looks N] [--sessions S] [--nodes K]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from mlr_copilot.lsp.search import WATCH_S, session_stamp
from mlr_copilot.search import store
from mlr_copilot.search.model import Journal, Node


def workspace(root: Path, sessions: int, nodes: int) -> Path:
    for number in range(sessions):
        journal = Journal(session=f"20260101-{number:06d}", metric="score", direction="maximize", base_branch="main",
                          base_commit="0" * 40, branch="mlr-search/x")
        journal.nodes = [Node(id=f"n{i:03d}", operator="draft", commit="0" * 40, summary="x" * 200)
                         for i in range(1, nodes + 1)]
        store.save(root, journal)
        (store.journal_path(root, journal.session).parent / "steer.jsonl").write_text("")
    return root


async def looks(root: Path, count: int) -> float:
    """CPU seconds per look."""
    start = time.process_time()
    for _ in range(count):
        assert await asyncio.to_thread(session_stamp, root) is not None
    return (time.process_time() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--looks", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = workspace(Path(tmp), args.sessions, args.nodes)
        per_look = asyncio.run(looks(root, args.looks))
    print(f"{args.looks} looks, {args.sessions} sessions, {args.nodes} nodes: {per_look * 1e3:.3f} ms CPU a look, "
          f"{per_look / WATCH_S * 100:.3f}% of one core at one look every {WATCH_S} s")


if __name__ == "__main__":
    main()
