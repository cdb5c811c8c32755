"""`mlr-copilot`: the terminal face of the engine. Each subcommand is a few lines over one
engine call. Imports stay inside the subcommands so a command pays only for what it uses."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .llm.providers import provider_names
from .untrusted import one_line, visible

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def subcommand(name: str):
    def register(fn: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = fn
        return fn

    return register


def _layer(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line, over the environment and `.env`."""
    llm = {k: v for k, v in {
        "provider": getattr(args, "provider", None),
        "model": getattr(args, "model", None),
        "base_url": getattr(args, "base_url", None),
        "script": str(Path(args.script).resolve()) if getattr(args, "script", None) else None,
        "budget_usd": getattr(args, "budget", None),
    }.items() if v is not None}
    run = {k: v for k, v in {
        "runner": getattr(args, "runner", None),
        "timeout": getattr(args, "timeout", None),
        "command": getattr(args, "run_command", None),
        "metric": getattr(args, "metric", None),
        "direction": getattr(args, "direction", None),
    }.items() if v is not None}
    layer: dict[str, Any] = {}
    if llm:
        layer["llm"] = llm
    if run:
        layer["run"] = run
    if getattr(args, "offline", False):
        layer["ideas"] = {"online": False}
    return layer


def say(text: object = "", *, err: bool = False) -> None:
    """Print a line that may hold LLM, paper or workspace text, verbatim (`untrusted.visible`).
    Every result and message the terminal shows goes through here or `shown`."""
    print(visible(text), file=sys.stderr if err else sys.stdout, flush=err)


def shown(text: object, style: str = ""):
    """Untrusted text as a Rich `Text`: never parsed as markup or emoji codes."""
    from rich.text import Text

    return Text(visible(text), style=style)


def engine_for(args: argparse.Namespace, layer: dict[str, Any] | None = None):
    from .engine import Engine

    engine = Engine.load(Path(args.workspace), _layer(args) if layer is None else layer)
    for warning in engine.warnings:
        say(f"warning: {warning}", err=True)
    return engine


def console():
    from rich.console import Console

    # piped output keeps whole lines: tables are read by scripts and tests too
    return Console(highlight=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@subcommand("serve")
def cmd_serve(args: argparse.Namespace) -> int:
    from .lsp.server import create_server

    server = create_server()
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            raise SystemExit(f"mlr-copilot serve: --tcp wants HOST:PORT, got {args.tcp!r}")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


@subcommand("doctor")
def cmd_doctor(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    rows = engine.doctor()
    if args.json:
        print(json.dumps([{"check": c, "finding": f, "ok": ok} for c, f, ok in rows], indent=2))
        return 0
    out = console()
    for check, finding, ok in rows:
        mark = shown("ok", "green") if ok else shown("!!", "yellow")
        out.print(mark + shown(f"  {check:<16} {finding}"))
    return 0


@subcommand("status")
def cmd_status(args: argparse.Namespace) -> int:
    print(json.dumps(engine_for(args).status(), indent=2))
    return 0


def terminal_work():
    """A `Work` that reports progress on stderr, so stdout stays the command's result."""
    from .work import Work

    def report(message: str, percentage: int | None = None) -> None:
        prefix = f"[{percentage:3d}%] " if percentage is not None else "       "
        say(prefix + message, err=True)

    return Work(report=report)


def run_async(coro):
    import asyncio

    return asyncio.run(coro)


class Interrupted(Exception):
    """Work stopped by a signal before it had anything to report; exit code 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def run_cancellable(work, coro) -> tuple[Any, int | None]:
    """`run_async`, with Ctrl-C, SIGTERM (a service manager, `kill`) and SIGHUP (the terminal
    closed) setting `work.cancel`: a run then stops its process tree or container and is
    recorded as cancelled, where the signal alone would end this process and leave the
    experiment running, or leave asyncio waiting for the run's thread. A second signal
    interrupts at once. Returns the result and the signal that cancelled it, if one did."""
    import signal

    from .work import Cancelled

    received: list[int] = []

    def interrupt(signum, frame) -> None:
        if work.cancel.is_set():
            raise KeyboardInterrupt
        received.append(signum)
        try:
            print(f"{signal.Signals(signum).name}: cancelling (Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
        except OSError:  # SIGHUP: the terminal may be gone
            pass
        work.cancel.set()

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return run_async(coro), (received[0] if received else None)
    except Cancelled:
        # cancelled before the run began: nothing to report but the interrupt
        raise Interrupted(received[0] if received else signal.SIGINT) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cancelled_exit(signum: int | None) -> int:
    """The shell's code for a process ended by `signum`: 130 for Ctrl-C, 143 SIGTERM, 129 SIGHUP."""
    import signal

    return 128 + (signum or signal.SIGINT)


@subcommand("paper")
def cmd_paper(args: argparse.Namespace) -> int:
    from .paper import parse_pdf

    if args.md:
        say(run_async(engine_for(args).paper_markdown(str(Path(args.pdf).resolve()), terminal_work())))
        return 0
    paper = parse_pdf(Path(args.pdf))
    data = paper.to_dict() if hasattr(paper, "to_dict") else paper.model_dump(mode="json")
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    say(f"{paper.title}\n{', '.join(paper.authors)}\n{paper.pages} pages, {len(paper.sections)} sections, {len(paper.references)} references\n")
    for section in paper.sections:
        say(f"  {section.heading} ({len(section.text)} chars)")
    return 0


@subcommand("ideas")
def cmd_ideas(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from .errors import MlrError

    engine = engine_for(args)
    if args.n is not None:
        # validated like the setting, so the same bounds hold however the count is given
        try:
            ideas = engine.settings.ideas.model_validate({**engine.settings.ideas.model_dump(), "hypotheses": args.n})
        except ValidationError as exc:
            raise MlrError(f"--n {args.n} is invalid: {exc.errors()[0]['msg'].lower()}") from None
        engine.configure(engine.settings.model_copy(update={"ideas": ideas}))
    run = run_async(engine.propose_hypotheses(str(Path(args.pdf).resolve()), terminal_work()))
    out = console()
    out.print(shown(run.paper_title, "bold") + shown(f": {len(run.hypotheses)} hypotheses in {run.document}"))
    for note in run.notes:
        out.print(shown(f"  note: {note}"))
    print_hypotheses(sorted(run.hypotheses, key=lambda h: h.rank))
    print_usage(engine)
    return 0


def print_hypotheses(hypotheses) -> None:
    from rich.table import Table

    table = Table("rank", "id", "status", "score", "title", "metric")
    for h in hypotheses:
        table.add_row(*(shown(one_line(cell)) for cell in (
            h.rank, h.id, h.status, f"{h.score:g}", h.title, f"{h.plan.metric} ({h.plan.direction})")))
    console().print(table)


def print_usage(engine) -> None:
    usage = engine.usage()
    cost = usage.get("cost_usd")
    cost_text = f", ${cost:.4f}" if cost else ""
    print(f"LLM: {usage['input_tokens']} input + {usage['output_tokens']} output tokens{cost_text}", file=sys.stderr)


@subcommand("hypotheses")
def cmd_hypotheses(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    hypotheses = engine.hypotheses()
    if args.json:
        print(json.dumps([h.model_dump(mode="json") for h in hypotheses], indent=2))
    else:
        print_hypotheses(hypotheses)
    return 0


def _decide(status: str):
    def decide(args: argparse.Namespace) -> int:
        hypothesis = engine_for(args).decide(args.id, status, args.reason or "")
        say(f"{hypothesis.id} {hypothesis.status}: {one_line(hypothesis.title)}")
        return 0

    return decide


subcommand("accept")(_decide("accepted"))
subcommand("reject")(_decide("rejected"))


@subcommand("refine")
def cmd_refine(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    hypothesis = run_async(engine.refine(args.id, args.feedback, terminal_work()))
    say(f"{hypothesis.id} refined (rank {hypothesis.rank}): {one_line(hypothesis.title)}")
    print_usage(engine)
    return 0


def terminal_reviewer(auto_yes: bool):
    """Show each proposed diff and ask; `--yes` accepts everything (the autonomous mode)."""
    from .experiment.change import Review

    async def review(proposal) -> Review:
        from rich.syntax import Syntax

        out = console()
        out.print(shown("\nProposed change", "bold") + shown(f" {proposal.id}: {proposal.summary}"))
        if proposal.why:
            out.print(shown(proposal.why))
        out.print(Syntax(visible(proposal.diff), "diff", theme="ansi_dark", word_wrap=True))
        if auto_yes:
            out.print(shown("accepted (--yes)", "green"))
            return Review(True)
        try:
            answer = input("Accept this change? [y]es / [n]o / or type a reason to reject: ").strip()
        except EOFError:
            return Review(False, reason="no answer: standard input is closed (use --yes to accept)")
        if answer.lower() in ("y", "yes"):
            return Review(True)
        return Review(False, reason="" if answer.lower() in ("n", "no", "") else answer)

    return review


def terminal_confirm(auto_yes: bool):
    async def confirm(problem: str) -> bool:
        say(problem, err=True)
        if auto_yes:
            print("Initialising a git repository with a first commit of the starter code (--yes).", file=sys.stderr)
            return True
        try:
            return input("Initialise a git repository here, with a first commit of the starter code? [y/N] ").strip().lower() in ("y", "yes")
        except EOFError:
            return False

    return confirm


@subcommand("implement")
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


@subcommand("undo")
def cmd_undo(args: argparse.Namespace) -> int:
    sha = engine_for(args).undo()
    print(f"reverted the last MLR-Copilot commit with {sha[:12]}")
    return 0


def terminal_lines(quiet: bool):
    def on_line(line: str) -> None:
        if not quiet:
            say(line, err=True)  # the experiment's code, written by the LLM, prints these

    return on_line


def print_record(record, as_json: bool) -> None:
    if as_json:
        print(record.model_dump_json(indent=2))
        return
    value = record.primary_value
    metric = f"{record.primary_metric}={value:.6g}" if value is not None else "no primary metric"
    say(f"run {record.id} at {(record.commit or 'no commit')[:12]} [{record.runner}]: {record.status}, {metric}, {record.duration_s}s")
    for failure in record.failures:
        where = f"{failure.path}:{failure.line}: " if failure.path else ""
        say(f"  {where}{failure.kind}: {failure.message}")
    say(f"  log: {record.log_path}")


def close_interrupted_runs(engine, runner: str | None) -> None:
    """Close the runs that processes killed mid-run left behind, stopping their process trees
    and containers (as the server does when it starts): every command that starts work does
    this first, so no orphaned experiment runs beside a new one. Runs of live processes are
    left alone. A local caller leaves the Docker engine alone unless one of those runs was a
    Docker run."""
    from .runners.execute import mark_interrupted

    local = (runner or engine.settings.run.runner) == "local"
    for record in mark_interrupted(engine.workspace, containers=not local):
        print(f"warning: run {record.id} was interrupted when the process running it stopped; it is marked interrupted",
              file=sys.stderr)


@subcommand("run")
def cmd_run(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    close_interrupted_runs(engine, args.runner)
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    work = terminal_work()
    record, signum = run_cancellable(work, engine.run(work, command=command or None, runner=args.runner,
                                                      timeout=args.timeout, on_line=terminal_lines(args.json),
                                                      baseline=args.baseline))
    print_record(record, args.json)
    if record.status == "cancelled":
        return cancelled_exit(signum)
    return 0 if record.status == "passed" else 1


@subcommand("debug")
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


@subcommand("history")
def cmd_history(args: argparse.Namespace) -> int:
    from .history.render import render_csv, render_md

    table = engine_for(args).history(args.branch, all_branches=True)
    if args.json:
        print(table.to_json())
    elif args.csv or args.md:
        sys.stdout.write(render_csv(table) if args.csv else render_md(table))
    else:
        say(table.render_text())
    return 0


@subcommand("compare")
def cmd_compare(args: argparse.Namespace) -> int:
    comparison = engine_for(args).compare(args.run_a, args.run_b)
    if args.json:
        print(comparison.to_json())
    else:
        say(comparison.render_text())
    return 0


def print_history(engine) -> None:
    say(engine.history().render_text())


@subcommand("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    from .autonomous.demo import demo_files, prepare, run_demo
    from .autonomous.pipeline import render_report

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
    say(engine.history(all_branches=True).render_text())
    print(f"Run logs: {target / '.mlr' / 'logs'}; compare two runs: mlr-copilot compare RUN_A RUN_B -w {target}")
    return 0 if state.status == "done" else 1


def _interactive_ask():
    async def ask(phase: str, summary: str) -> str:
        say(f"\n== after the {phase} phase ==\n{summary}")
        try:
            return input("Enter to continue, 'skip', 'stop', or feedback text: ")
        except EOFError:
            return ""

    return ask


@subcommand("auto")
def cmd_auto(args: argparse.Namespace) -> int:
    from .autonomous.pipeline import AutoPipeline, render_report
    from .autonomous.tasks import paper_from_task
    from .errors import MlrError
    from .tasks import TaskError, load_task

    settings = _layer(args)
    if args.resume:
        settings = resumed_settings(args, settings)
    engine = engine_for(args, settings)
    close_interrupted_runs(engine, None)
    source = Path(args.paper).resolve() if args.paper else None
    if source is None and not args.resume:
        try:
            source = paper_from_task(load_task(engine.workspace))
        except TaskError as exc:
            raise MlrError(f"give --paper PAPER.pdf, or work in a task folder: {exc}") from None
    pipeline = AutoPipeline(engine, ask=_interactive_ask() if args.interactive else None)
    work = terminal_work()
    state, signum = run_cancellable(work, pipeline.run(source, work, wanted=args.hypotheses, resume=args.resume,
                                                       settings=settings))
    say(render_report(state))
    if state.status == "cancelled":
        return cancelled_exit(signum)
    return 0 if state.status == "done" else 1


def resumed_settings(args: argparse.Namespace, given: dict[str, Any]) -> dict[str, Any]:
    """The settings the interrupted session was started with, under the flags given now; said
    on stderr, since they come from a file in the workspace and choose what runs."""
    from .autonomous.pipeline import load_session, session_path
    from .autonomous.resume import describe_settings, merged_settings
    from .errors import MlrError

    saved = load_session(Path(args.workspace).resolve())
    if saved is None:
        raise MlrError(f"nothing to resume: no autonomous session in {session_path(Path(args.workspace).resolve()).parent}")
    merged = merged_settings(saved.settings, given)
    say(f"resuming the session of {session_path(Path(args.workspace).resolve())} with {describe_settings(merged)}",
        err=True)
    return merged


class VisibleFormatter(logging.Formatter):
    """Log lines quote LLM replies and file names too: their control characters stay visible."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(VisibleFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


@subcommand("eval")
def cmd_eval(args: argparse.Namespace) -> int:
    import tempfile

    from .autonomous.evaluation import evaluate, pick_tasks, render

    tasks = pick_tasks([t for t in (args.tasks or "").split(",") if t])
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="mlr-eval-"))
    if args.runner != "local":
        # its workspaces are new, but a killed eval may have left containers on the engine
        from .runners.docker import cleanup_orphans

        cleanup_orphans()
    work = terminal_work()
    result, signum = run_cancellable(work, evaluate(tasks, args.runs, workdir, _layer(args), work, hypotheses=args.hypotheses))
    (workdir / "evaluation.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        say(render(result))
    print(f"results: {workdir / 'evaluation.json'}", file=sys.stderr)
    if signum is not None:
        return cancelled_exit(signum)
    return 1 if result.unprepared else 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", default=".", help="the research workspace (default: the current folder)")
    common.add_argument("--provider", choices=provider_names(), help="LLM provider")
    common.add_argument("--model", help="LLM model name")
    common.add_argument("--base-url", dest="base_url", help="base URL of an OpenAI-compatible server (vLLM, Ollama, llama.cpp)")
    common.add_argument("--script", help="JSONL of recorded replies for the scripted provider")
    common.add_argument("--budget", type=float, help="stop LLM work once this many US dollars are spent")
    common.add_argument("--offline", action="store_true", help="use no online source (literature, Hugging Face Hub)")
    common.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")

    parser = argparse.ArgumentParser(
        prog="mlr-copilot",
        description="A machine-learning research copilot: from a paper to hypotheses, code and experiments.",
    )
    parser.add_argument("--version", action="version", version=f"mlr-copilot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", parents=[common], help="run the language server (stdio, or --tcp HOST:PORT)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    p = sub.add_parser("doctor", parents=[common], help="check this machine, the LLM configuration and the workspace")
    p.add_argument("--json", action="store_true")
    sub.add_parser("status", parents=[common], help="print the engine's state as JSON")

    p = sub.add_parser("paper", parents=[common], help="parse a paper PDF (title, authors, abstract, sections, references)")
    p.add_argument("pdf")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the parsed paper as JSON")
    shape.add_argument("--md", action="store_true", help="print the parsed paper as a Markdown outline")
    p = sub.add_parser("ideas", parents=[common], help="propose ranked hypotheses with experiment plans from a paper")
    p.add_argument("pdf")
    p.add_argument("--n", type=int, help="how many hypotheses (default: the ideas.hypotheses setting, 5)")
    p = sub.add_parser("hypotheses", parents=[common], help="list the workspace's hypotheses and their decisions")
    p.add_argument("--json", action="store_true")
    for name, verb in (("accept", "accept"), ("reject", "reject")):
        p = sub.add_parser(name, parents=[common], help=f"{verb} a hypothesis")
        p.add_argument("id")
        p.add_argument("--reason", help="a note kept with the decision")
    p = sub.add_parser("refine", parents=[common], help="regenerate one hypothesis with your feedback")
    p.add_argument("id")
    p.add_argument("--feedback", help="what to change (default: the 'Feedback:' lines under it in the document)")
    p = sub.add_parser("implement", parents=[common], help="implement an accepted hypothesis as reviewed commits on its branch")
    p.add_argument("id")
    p.add_argument("--yes", "-y", action="store_true", help="accept every proposed change (autonomous mode)")
    sub.add_parser("undo", parents=[common], help="revert the last MLR-Copilot commit (a revert commit, never a rewrite)")
    p = sub.add_parser("run", parents=[common], help="run the experiment in the sandbox and print the run record")
    p.add_argument("--runner", choices=["auto", "local", "docker"])
    p.add_argument("--timeout", type=float, help="wall-time limit in seconds")
    p.add_argument("--json", action="store_true", help="print the run record as JSON")
    p.add_argument("--baseline", action="store_true", help="mark this run as the baseline of the history")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ...: the command to run instead of the configured one")
    p = sub.add_parser("debug", parents=[common], help="run, and fix failures with reviewed commits, up to a cap of attempts")
    p.add_argument("--yes", "-y", action="store_true", help="accept every proposed fix")
    p.add_argument("--attempts", type=int, help="the cap of fix attempts (default: the run.debugAttempts setting, 3)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("demo", help="the whole loop on a bundled paper and task, offline, with recorded LLM replies")
    p.add_argument("--workspace", "-w", help="run it on a copy in this new folder (default: a new temporary folder)")
    p.add_argument("--runner", choices=["auto", "local", "docker"], help="where runs execute (default: the run.runner setting)")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    p = sub.add_parser("auto", parents=[common], help="autonomous mode: baseline, hypotheses, implementation, runs and fixes, with a report")
    p.add_argument("--paper", help="the paper PDF (default: the task description of the workspace)")
    p.add_argument("--hypotheses", type=int, help="how many of the top hypotheses to try (default 1, or the resumed session's)")
    p.add_argument("--interactive", action="store_true", help="ask after each phase (continue, skip, stop, or feedback)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted autonomous session from .mlr/auto/")
    p.add_argument("--runner", choices=["auto", "local", "docker"])
    p.add_argument("--timeout", type=float, help="wall-time limit of each run in seconds")
    p.add_argument("--command", dest="run_command",
                   help="the experiment command (default: the run.command setting, else the task's)")
    p.add_argument("--metric", help="the metric that decides success, as the experiment reports it "
                                    "(default: the run.metric setting, else the task's)")
    p.add_argument("--direction", choices=["maximize", "minimize"], help="whether a higher or lower metric is better "
                                                                       "(default: the run.direction setting, else maximize)")
    p = sub.add_parser("eval", parents=[common], help="K autonomous attempts per task, scored by the 10%%-over-baseline criterion")
    p.add_argument("--tasks", help="comma-separated bundled task names (default: every offline task)")
    p.add_argument("--runs", type=int, default=1, help="attempts per task (default 1)")
    p.add_argument("--hypotheses", type=int, default=1, help="hypotheses tried per attempt (default 1)")
    p.add_argument("--workdir", help="where the attempts' workspaces go (default: a new temporary folder)")
    p.add_argument("--runner", choices=["auto", "local", "docker"])
    p.add_argument("--timeout", type=float, help="wall-time limit of each run in seconds")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("history", parents=[common], help="the runs commit by commit with their metrics and the change against the baseline")
    p.add_argument("--branch", help="show only this branch (default: the base branch and every hypothesis branch)")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the table as JSON")
    shape.add_argument("--csv", action="store_true", help="print the table as CSV, a column per metric")
    shape.add_argument("--md", action="store_true", help="print the table as Markdown")
    p = sub.add_parser("compare", parents=[common], help="two runs side by side: metrics, settings and the code diff")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    configure_logging(getattr(args, "verbose", False))
    from .errors import MlrError

    try:
        return COMMANDS[args.command](args)
    except MlrError as exc:
        # one line, whatever the message quotes (an edit's closest lines, a reply)
        say(f"mlr-copilot {args.command}: {one_line(exc)}", err=True)
        return 2
    except BrokenPipeError:
        return 0
    except Interrupted as exc:
        print(f"mlr-copilot {args.command}: interrupted", file=sys.stderr)
        return cancelled_exit(exc.signum)
    except KeyboardInterrupt:
        print(f"mlr-copilot {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
