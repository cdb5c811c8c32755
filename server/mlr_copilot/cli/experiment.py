"""`implement`, `undo`, `run`, `checkout-run`, `debug`: a hypothesis made into reviewed commits,
run in the sandbox (one run, or every accepted hypothesis's), and its failures fixed."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import MlrError
from ..runners.registry import CHOICES as RUNNER_CHOICES
from .output import print_record, print_usage, say, terminal_lines, terminal_work
from .parser import Commands
from .prompts import terminal_confirm, terminal_reviewer
from .session import cancelled_exit, close_interrupted_runs, engine_for, run_async, run_cancellable

if TYPE_CHECKING:
    from ..engine import Engine


def cmd_implement(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    # it runs nothing itself: the Docker engine is asked only when a Docker run was cut
    close_interrupted_runs(engine, "local")
    state = run_async(engine.implement(args.id, terminal_reviewer(args.yes), terminal_work(), terminal_confirm(args.yes)))
    say(f"{state.hypothesis} on {state.branch}: {state.status} ({state.message})")
    for step in state.steps:
        say(f"  step {step.step}: {step.summary} [{step.outcome}{' ' + step.commit[:8] if step.commit else ''}]{' ' + step.reason if step.reason else ''}")
    print_usage(engine)
    if state.status == "nothing-implemented":
        say(f"mlr-copilot implement: {state.message}", err=True)
    return 0 if state.status in ("done", "stopped") else 1


def cmd_undo(args: argparse.Namespace) -> int:
    sha = engine_for(args, lazy=True).undo()
    print(f"reverted the last MLR-Copilot commit with {sha[:12]}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    close_interrupted_runs(engine, args.runner)
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if args.all_accepted:
        return run_all_accepted(engine, args, command)
    work = terminal_work()
    record, signum = run_cancellable(work, engine.run(work, command=command or None, runner=args.runner,
                                                      timeout=args.timeout, on_line=terminal_lines(args.json),
                                                      baseline=args.baseline, rev=args.rev))
    print_record(record, args.json, engine.settings.run.results_file)
    if record.status == "cancelled":
        return cancelled_exit(signum)
    return 0 if record.status == "passed" else 1


def run_all_accepted(engine: Engine, args: argparse.Namespace, command: list[str]) -> int:
    if args.rev or command:
        raise MlrError("--all-accepted runs each hypothesis's branch with its own command: drop --rev and the command")
    work = terminal_work()
    items, signum = run_cancellable(work, engine.run_hypotheses(work, baseline=args.baseline, runner=args.runner,
                                                                timeout=args.timeout, on_line=terminal_lines(args.json)))
    if args.json:
        import json  # only when printing JSON: not on the path of `--help` and the light commands

        print(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
    for item in items:
        if item.error:
            say(item.error, err=True)
        elif item.run is not None and not args.json:
            say(f"{item.target} ({item.branch}):")
            print_record(item.run, False, engine.settings.run.results_file)
    if not items:
        say("no accepted hypothesis to run: accept one (mlr-copilot accept ID) and implement it", err=True)
    if signum is not None:
        return cancelled_exit(signum)
    return 0 if items and all(item.run is not None and item.run.status == "passed" for item in items) else 1


def cmd_debug(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    close_interrupted_runs(engine, None)
    work = terminal_work()
    report, signum = run_cancellable(work, engine.debug(terminal_reviewer(args.yes), work, on_line=terminal_lines(False),
                                                        max_attempts=args.attempts))
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        say(f"debugging: {report.status}" + (f" ({report.message})" if report.message else ""))
        for attempt in report.attempts:
            say(f"  run {attempt.run_id} {attempt.status} -> fix: {attempt.fix or 'none'} {attempt.commit[:8] if attempt.commit else ''}")
    print_usage(engine)
    if report.status == "cancelled":
        return cancelled_exit(signum)
    return 0 if report.status == "passed" else 1


def cmd_checkout_run(args: argparse.Namespace) -> int:
    done = engine_for(args, lazy=True).checkout_run(args.run_id, args.path)  # it reads no setting
    print(done.path)
    say(f"run {done.run_id}'s commit {done.commit[:12]} is checked out there; when done: git worktree remove {done.path}",
        err=True)
    return 0


def declare(commands: Commands) -> None:
    p = commands.add("implement", cmd_implement, "implement an accepted hypothesis as reviewed commits on its branch")
    p.add_argument("id")
    p.add_argument("--yes", "-y", action="store_true", help="accept every proposed change (autonomous mode)")
    commands.add("undo", cmd_undo, "revert the last MLR-Copilot commit (a revert commit, never a rewrite)")
    p = commands.add("run", cmd_run, "run the experiment in the sandbox and print the run record")
    p.add_argument("--runner", choices=RUNNER_CHOICES)
    p.add_argument("--timeout", type=float, help="wall-time limit in seconds")
    p.add_argument("--json", action="store_true", help="print the run record as JSON")
    p.add_argument("--baseline", action="store_true",
                   help="mark this run as the baseline of the history (with --all-accepted: run the base branch as the baseline too)")
    p.add_argument("--rev", help="run this commit or branch (default: the working copy) without checking it out")
    p.add_argument("--all-accepted", action="store_true",
                   help="run the branch head of every accepted hypothesis, all queued at once (run.parallel of them together)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ...: the command to run instead of the configured one")
    p = commands.add("checkout-run", cmd_checkout_run,
                     "check out the commit a run ran as a new git worktree beside the workspace, and print its folder")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--path", help="the new folder (default: <workspace>-run-<RUN_ID> beside the workspace); never an existing one")
    p = commands.add("debug", cmd_debug, "run, and fix failures with reviewed commits, up to a cap of attempts")
    p.add_argument("--yes", "-y", action="store_true", help="accept every proposed fix")
    p.add_argument("--attempts", type=int, help="the cap of fix attempts (default: the run.debugAttempts setting, 3)")
    p.add_argument("--json", action="store_true")
