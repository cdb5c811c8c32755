"""`search`: the tree search over solutions (draft, debug, improve, reflect), its winner
re-measured with seeds; `--resume` continues the latest session of the workspace."""

from __future__ import annotations

import argparse
from typing import Any

from ..runners.registry import CHOICES as RUNNER_CHOICES
from .output import say, terminal_work
from .parser import Commands
from .session import (
    cancelled_exit,
    close_interrupted_runs,
    engine_for,
    run_cancellable,
    settings_layer,
)

# flag -> the search.* setting it sets
_FLAGS = {"nodes": "max_nodes", "hours": "hours", "seeds": "seeds", "drafts": "initial_drafts"}


def search_layer(args: argparse.Namespace) -> dict[str, Any]:
    layer = settings_layer(args)
    given = {key: getattr(args, flag) for flag, key in _FLAGS.items() if getattr(args, flag, None) is not None}
    if given:
        layer["search"] = given
    return layer


def cmd_search(args: argparse.Namespace) -> int:
    from ..search.loop import Search  # the agents and the event loop
    from ..search.report import render  # as above

    engine = engine_for(args, search_layer(args))
    close_interrupted_runs(engine, None)
    work = terminal_work()
    journal, signum = run_cancellable(work, Search(engine, work).run(hypotheses=args.hypotheses, resume=args.resume))
    say(render(journal))
    if journal.status == "cancelled":
        return cancelled_exit(signum)
    return 1 if journal.status == "failed" else 0


def declare(commands: Commands) -> None:
    p = commands.add("search", cmd_search, "tree search over solutions: drafts, fixes and improvements chosen by the "
                                           "metric; the winner re-run with seeds")
    p.add_argument("--hypotheses", type=int, help="how many hypotheses to draft from (default: search.initialDrafts)")
    p.add_argument("--drafts", type=int, help="initial drafts (the search.initialDrafts setting)")
    p.add_argument("--nodes", type=int, help="stop after this many nodes (the search.maxNodes setting)")
    p.add_argument("--hours", type=float, help="stop after this much wall time (the search.hours setting)")
    p.add_argument("--seeds", type=int, help="seeded re-runs of the winner and the baseline (default 3)")
    p.add_argument("--resume", action="store_true", help="continue the latest search session of the workspace")
    p.add_argument("--runner", choices=RUNNER_CHOICES)
    p.add_argument("--timeout", type=float, help="wall-time limit of each run in seconds")
    p.add_argument("--command", dest="run_command",
                   help="the experiment command (default: the run.command setting, else the task's)")
    p.add_argument("--metric", help="the metric the search optimises (default: the run.metric setting, else the task's)")
    p.add_argument("--direction", choices=["maximize", "minimize"], help="whether a higher or lower metric is better")
