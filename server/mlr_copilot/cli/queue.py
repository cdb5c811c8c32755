"""`queue`: the runs waiting for a slot, running and lately ended, and `queue cancel RUN_ID`,
which stops one from another process (the queue that owns it acts on the request)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import MlrError
from .output import console, say, shown
from .parser import Commands
from .session import engine_for

if TYPE_CHECKING:
    from ..runners.queue_records import QueuedRun

_STATE_STYLE = {"pending": "cyan", "running": "yellow", "finished": "green", "failed": "red",
                "cancelled": "magenta", "interrupted": "red"}


def elapsed_text(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`: as long as it needs to be, no longer."""
    whole = int(max(0.0, seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def print_queue(entries: list[QueuedRun]) -> None:
    from rich.table import Table  # rich only for the commands that print tables

    if not entries:
        say("the queue is empty: no run is waiting or running")
        return
    # "of": the search node or eval task a run belongs to, never the machine it runs on
    table = Table("run", "state", "slot", "GPUs", "of", "elapsed", "note")
    for e in entries:
        note = "cancel requested" if e.cancel_requested and e.state in ("pending", "running") else e.reason or ""
        table.add_row(shown(e.run_id), shown(e.state, _STATE_STYLE.get(e.state, "")),
                      shown("-" if e.slot is None else e.slot), shown(",".join(e.gpu_ids) or "-"),
                      shown(e.node or "-"), shown(elapsed_text(e.elapsed_s)), shown(note))
    console().print(table)


def cmd_queue(args: argparse.Namespace) -> int:
    import json  # only when printing JSON: not on the path of `--help`

    from ..plain import jsonable

    if args.action == "cancel" or args.cancel:
        return _cancel(args)
    if args.run_id:
        raise MlrError(f"unexpected {args.run_id!r}: did you mean `queue cancel {args.run_id}`?")
    entries = engine_for(args, lazy=True).queue(all_ended=args.all)
    if args.json:
        print(json.dumps(jsonable(entries), indent=2))
    else:
        print_queue(entries)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    run_id = args.cancel or args.run_id
    if not run_id or (args.cancel and args.run_id):
        raise MlrError("queue cancel needs one RUN_ID (see `mlr-copilot queue` for the runs)")
    entry = engine_for(args).cancel_queued(run_id)
    if args.json:
        import json

        from ..plain import jsonable

        print(json.dumps(jsonable(entry), indent=2, ensure_ascii=False))
    elif entry.state == "cancelled":
        say(f"run {entry.run_id} cancelled ({entry.reason})")
    else:
        say(f"run {entry.run_id} ({entry.state}): cancel requested; its queue stops it within a second")
    return 0


def declare(commands: Commands) -> None:
    p = commands.add("queue", cmd_queue, "the runs waiting for a slot, running and lately ended; `queue cancel RUN_ID` stops one")
    p.add_argument("action", nargs="?", choices=["cancel"], help="cancel: stop the run RUN_ID, waiting or running")
    p.add_argument("run_id", nargs="?", metavar="RUN_ID")
    p.add_argument("--cancel", metavar="RUN_ID", help="the same as `queue cancel RUN_ID`")
    p.add_argument("--all", action="store_true", help="every ended run the queue keeps, not only the latest")
    p.add_argument("--json", action="store_true")
