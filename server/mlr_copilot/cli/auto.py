"""`demo`, `auto`, `eval`: the autonomous mode (every review accepted) on a bundled task, on a
workspace, and K attempts per task scored against the task's baseline. With `--search`, auto
and eval run the tree search (`search`'s engine call) in place of the linear pipeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MlrError
from ..runners.registry import CHOICES as RUNNER_CHOICES

if TYPE_CHECKING:
    from ..paper.model import Paper
from .output import print_hypotheses, say, terminal_work
from .parser import Commands
from .prompts import interactive_ask
from .search import search_layer
from .session import (
    cancelled_exit,
    close_interrupted_runs,
    engine_for,
    run_async,
    run_cancellable,
    settings_layer,
)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..autonomous.demo import demo_files, prepare, run_demo  # the agents and the event loop
    from ..autonomous.session import render_report  # as above

    target = prepare(Path(args.workspace) if args.workspace else None)
    _paper, script = demo_files()
    print("MLR-Copilot demo: the LLM is the scripted provider, replaying recorded replies from "
          f"{script}. No API key and no network are used; with a real provider the same loop runs live.")
    print(f"Workspace: {target} (a copy of the bundled review-sentiment task, with the paper paper.pdf)\n")
    engine, state = run_async(run_demo(target, terminal_work(), args.runner))
    say("\nProposed hypotheses (the first is tried):")
    print_hypotheses(engine.hypotheses())
    for document in sorted((target / "research").glob("*/hypotheses.md")):
        say(f"Hypotheses with their plans and related work: {document}")
    say("\n" + render_report(state))
    print(f"\nHistory (`mlr-copilot history -w {target}`; also: git -C {target} log --notes=mlr --all):")
    say(engine.history_table(all_branches=True).render_text())
    print(f"Run logs: {target / '.mlr' / 'logs'}; compare two runs: mlr-copilot compare RUN_A RUN_B -w {target}")
    return 0 if state.status == "done" else 1


def _search_only(args: argparse.Namespace, searching: bool) -> None:
    """The search's budget flags mean nothing to the linear mode: refused, not ignored."""
    given = [f"--{flag}" for flag in ("nodes", "seeds") if getattr(args, flag, None) is not None]
    if given and not searching:
        raise MlrError(f"{' and '.join(given)} {'set' if len(given) > 1 else 'sets'} the search's budget: add --search")


def cmd_auto(args: argparse.Namespace) -> int:
    _search_only(args, args.search)
    if args.search:
        return cmd_auto_search(args)
    from ..autonomous.bundled import paper_from_task  # as above
    from ..autonomous.pipeline import AutoPipeline  # the agents and the event loop
    from ..autonomous.session import render_report
    from ..taskfile import TaskError, load_task  # as above

    settings = settings_layer(args)
    if args.resume:
        settings = resumed_settings(args, settings)
    engine = engine_for(args, settings)
    close_interrupted_runs(engine, None)
    source: Path | Paper | None = Path(args.paper).resolve() if args.paper else None
    if source is None and not args.resume:
        try:
            source = paper_from_task(load_task(engine.workspace))
        except TaskError as exc:
            raise MlrError(f"give --paper PAPER.pdf, or work in a task folder: {exc}") from None
    pipeline = AutoPipeline(engine, ask=interactive_ask() if args.interactive else None)
    work = terminal_work()
    state, signum = run_cancellable(work, pipeline.run(source, work, wanted=args.hypotheses, resume=args.resume,
                                                       settings=settings))
    say(render_report(state))
    if state.status == "cancelled":
        return cancelled_exit(signum)
    return 0 if state.status == "done" else 1


def cmd_auto_search(args: argparse.Namespace) -> int:
    """`auto --search`: the search with auto's flags, its hypotheses proposed from --paper when given."""
    from ..autonomous.search_mode import search_session  # the agents and the event loop
    from ..search.report import render  # as above

    if args.interactive:
        raise MlrError("--interactive asks between the linear mode's phases, which the search does not have: "
                       "drop --interactive or --search")
    layer = search_layer(args)
    if args.hypotheses is not None:  # each hypothesis tried is one of the search's initial drafts
        layer["search"] = {**layer.get("search", {}), "initial_drafts": args.hypotheses}
    engine = engine_for(args, layer)
    close_interrupted_runs(engine, None)
    work = terminal_work()
    source = Path(args.paper).resolve() if args.paper else None
    journal, signum = run_cancellable(work, search_session(engine, work, source, hypotheses=args.hypotheses,
                                                           resume=args.resume))
    say(render(journal))
    if journal.status == "cancelled":
        return cancelled_exit(signum)
    return 1 if journal.status == "failed" else 0


def resumed_settings(args: argparse.Namespace, given: dict[str, Any]) -> dict[str, Any]:
    """The settings the interrupted session was started with, under the flags given now; said
    on stderr, since they come from a file in the workspace and choose what runs."""
    from ..autonomous.resume import describe_settings, merged_settings
    from ..autonomous.session import load_session, session_path

    saved = load_session(Path(args.workspace).resolve())
    if saved is None:
        raise MlrError(f"nothing to resume: no autonomous session in {session_path(Path(args.workspace).resolve()).parent}")
    merged = merged_settings(saved.settings, given)
    say(f"resuming the session of {session_path(Path(args.workspace).resolve())} with {describe_settings(merged)}",
        err=True)
    return merged


def cmd_eval(args: argparse.Namespace) -> int:
    from ..autonomous.evaluation import MODES, evaluate, pick_tasks, render  # agents, event loop

    _search_only(args, args.search or args.compare)
    if args.runs < 1 or args.hypotheses < 1:
        raise MlrError("--runs and --hypotheses count attempts and hypotheses: give 1 or more")
    modes = MODES if args.compare else ("search",) if args.search else ("linear",)
    tasks = pick_tasks([t for t in (args.tasks or "").split(",") if t])
    import tempfile  # not on the path of `--help` and the commands that only read

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="mlr-eval-"))
    if args.runner != "local":
        # its workspaces are new, but a killed eval may have left containers on the engine
        from ..runners.docker import cleanup_orphans  # the docker SDK only then

        cleanup_orphans()
    work = terminal_work()
    result, signum = run_cancellable(work, evaluate(tasks, args.runs, workdir, search_layer(args), work,
                                                    hypotheses=args.hypotheses, modes=modes))
    (workdir / "evaluation.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        say(render(result))
    print(f"results: {workdir / 'evaluation.json'}", file=sys.stderr)
    if signum is not None:
        return cancelled_exit(signum)
    return 1 if result.unprepared else 0


def _declare_demo(commands: Commands) -> None:
    p = commands.add("demo", cmd_demo, "the whole loop on a bundled paper and task, offline, with recorded LLM replies",
                     common=False)
    p.add_argument("--workspace", "-w", help="run it on a copy in this new folder (default: a new temporary folder)")
    p.add_argument("--runner", choices=RUNNER_CHOICES, help="where runs execute (default: the run.runner setting)")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")


def _declare_auto(commands: Commands) -> None:
    p = commands.add("auto", cmd_auto, "autonomous mode: baseline, hypotheses, implementation, runs and fixes, with a report")
    p.add_argument("--paper", help="the paper PDF (default: the task description of the workspace)")
    p.add_argument("--hypotheses", type=int, help="how many of the top hypotheses to try (default 1, or the resumed session's)")
    p.add_argument("--interactive", action="store_true", help="ask after each phase (continue, skip, stop, or feedback)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted autonomous session from .mlr/auto/ "
                                                         "(with --search: the latest search session)")
    _declare_search_flags(p, "hypotheses")
    p.add_argument("--parallel", type=int, help="runs at once, one slot each (default: the run.parallel setting)")
    p.add_argument("--runner", choices=RUNNER_CHOICES)
    p.add_argument("--timeout", type=float, help="wall-time limit of each run in seconds")
    p.add_argument("--command", dest="run_command",
                   help="the experiment command (default: the run.command setting, else the task's)")
    p.add_argument("--metric", help="the metric that decides success, as the experiment reports it "
                                    "(default: the run.metric setting, else the task's)")
    p.add_argument("--direction", choices=["maximize", "minimize"], help="whether a higher or lower metric is better "
                                                                       "(default: the run.direction setting, else maximize)")


def _declare_search_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--search", action="store_true", help=f"tree search in place of the linear pipeline: the {what} "
                                                         "become search sessions, judged on seeded means")
    p.add_argument("--nodes", type=int, help="with --search: stop each search after this many nodes (search.maxNodes)")
    p.add_argument("--seeds", type=int, help="with --search: seeded re-runs of the winner and the baseline (default 3)")


def _declare_eval(commands: Commands) -> None:
    p = commands.add("eval", cmd_eval, "K autonomous attempts per task, scored by the 10%%-over-baseline criterion")
    p.add_argument("--tasks", help="comma-separated bundled task names (default: every offline task)")
    p.add_argument("--runs", type=int, default=1, help="attempts per task (default 1)")
    p.add_argument("--hypotheses", type=int, default=1, help="hypotheses tried per attempt (default 1; with --search: "
                                                             "the initial drafts)")
    _declare_search_flags(p, "attempts")
    p.add_argument("--compare", action="store_true",
                   help="run each task's attempts in both modes, linear then search, and report them side by side")
    p.add_argument("--parallel", type=int, help="attempts at once, one slot each (default: the run.parallel setting)")
    p.add_argument("--workdir", help="where the attempts' workspaces go (default: a new temporary folder)")
    p.add_argument("--runner", choices=RUNNER_CHOICES)
    p.add_argument("--timeout", type=float, help="wall-time limit of each run in seconds")
    p.add_argument("--json", action="store_true")


def declare(commands: Commands) -> None:
    _declare_demo(commands)
    _declare_auto(commands)
    _declare_eval(commands)
