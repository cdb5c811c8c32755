"""`search`: the tree search over solutions (draft, debug, improve, reflect), its winner
re-measured with seeds; `--resume` continues the latest session of the workspace, and
`--improve/--debug/--prune/--promote NODE` act on one node of it (`Engine.search_act`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import MlrError
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

if TYPE_CHECKING:
    from ..search.model import NodeActionName

# flag -> the search.* setting it sets
_FLAGS = {"nodes": "max_nodes", "hours": "hours", "seeds": "seeds", "drafts": "initial_drafts"}
# the node actions, each a flag naming the node
NODE_ACTIONS: tuple[NodeActionName, ...] = ("improve", "debug", "prune", "promote")


def search_layer(args: argparse.Namespace) -> dict[str, Any]:
    layer = settings_layer(args)
    given = {key: getattr(args, flag) for flag, key in _FLAGS.items() if getattr(args, flag, None) is not None}
    if given:
        layer["search"] = given
    return layer


def cmd_search(args: argparse.Namespace) -> int:
    action = next((name for name in NODE_ACTIONS if getattr(args, name) is not None), None)
    if action is not None:
        return cmd_node_action(args, action)
    if args.instruction is not None:
        raise MlrError("--instruction goes with --improve NODE")
    if args.session is not None:
        raise MlrError("--session goes with a node action (--improve, --debug, --prune, --promote NODE); "
                       "--resume continues the latest session")
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


def cmd_node_action(args: argparse.Namespace, action: NodeActionName) -> int:
    if args.resume:
        raise MlrError(f"--{action} acts on one node: it does not go with --resume")
    if args.instruction is not None and action != "improve":
        raise MlrError("--instruction goes with --improve NODE")
    engine = engine_for(args, search_layer(args))
    close_interrupted_runs(engine, None)
    work = terminal_work()
    result, signum = run_cancellable(work, engine.search_act(
        work, getattr(args, action), action, instruction=args.instruction or "", session=args.session))
    say(result.message)
    return cancelled_exit(signum) if signum is not None else 0


def declare(commands: Commands) -> None:
    p = commands.add("search", cmd_search, "tree search over solutions: drafts, fixes and improvements chosen by the "
                                           "metric; the winner re-run with seeds")
    p.add_argument("--hypotheses", type=int, help="how many hypotheses to draft from (default: search.initialDrafts)")
    p.add_argument("--drafts", type=int, help="initial drafts (the search.initialDrafts setting)")
    p.add_argument("--nodes", type=int, help="stop after this many nodes (the search.maxNodes setting)")
    p.add_argument("--hours", type=float, help="stop after this much wall time (the search.hours setting)")
    p.add_argument("--seeds", type=int, help="seeded re-runs of the winner and the baseline (default 3)")
    p.add_argument("--parallel", type=int, help="runs at once, one slot each: nodes, then the seeded re-runs "
                                                "(default: the run.parallel setting)")
    p.add_argument("--resume", action="store_true", help="continue the latest search session of the workspace")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--improve", metavar="NODE", help="improve this node of the search: its child is made and run")
    act.add_argument("--debug", metavar="NODE", help="debug this failed node: a fix is made and run as its child")
    act.add_argument("--prune", metavar="NODE", help="prune this node: the search expands it no more")
    act.add_argument("--promote", metavar="NODE", help="promote this node to a branch of its own")
    p.add_argument("--instruction", help="what the improvement should try (with --improve)")
    p.add_argument("--session", help="the search session of the node (default: the latest)")
    p.add_argument("--runner", choices=RUNNER_CHOICES)
    p.add_argument("--timeout", type=float, help="wall-time limit of each run in seconds")
    p.add_argument("--command", dest="run_command",
                   help="the experiment command (default: the run.command setting, else the task's)")
    p.add_argument("--metric", help="the metric the search optimises (default: the run.metric setting, else the task's)")
    p.add_argument("--direction", choices=["maximize", "minimize"], help="whether a higher or lower metric is better")
