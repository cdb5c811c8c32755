"""How results reach the terminal. Results go to stdout, progress and warnings to stderr; any
text that may come from an LLM, a paper or the workspace goes through `say`, `say_styled` or a
table (`table.print_table`), which keep its control characters visible (`untrusted.visible`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..untrusted import visible

if TYPE_CHECKING:
    from ..engine import Engine
    from ..ideas.model import Hypothesis
    from ..ideas.summary import HypothesisSummary
    from ..runners.model import RunRecord
    from ..work import Work


def say(text: object = "", *, err: bool = False) -> None:
    """Print a line that may hold LLM, paper or workspace text, verbatim (`untrusted.visible`).
    Every result and message the terminal shows goes through here, `say_styled` or a table."""
    print(visible(text), file=sys.stderr if err else sys.stdout, flush=err)


def say_styled(*parts: tuple[object, str]) -> None:
    """One line on stdout of (text, style) parts, each text verbatim as in `say`, in its style
    ("bold", "green": `table.paint`) when stdout is a terminal that shows colour."""
    from .table import paint, wants_colour

    colour = wants_colour(sys.stdout)
    print("".join(paint(visible(text), style, colour) for text, style in parts))


def terminal_work() -> Work:
    """A `Work` that reports progress on stderr, so stdout stays the command's result."""
    from ..work import Work  # dataclasses: not on the path of `--help`

    def report(message: str, percentage: int | None = None) -> None:
        prefix = f"[{percentage:3d}%] " if percentage is not None else "       "
        say(prefix + message, err=True)

    return Work(report=report)


def terminal_lines(quiet: bool) -> Callable[[str], None]:
    def on_line(line: str) -> None:
        if not quiet:
            say(line, err=True)  # the experiment's code, written by the LLM, prints these

    return on_line


def print_hypotheses(hypotheses: Iterable[Hypothesis | HypothesisSummary]) -> None:
    from .table import print_table

    rows = [(h.rank, h.id, h.status, f"{h.score:g}", h.title, f"{h.plan.metric} ({h.plan.direction})")
            for h in hypotheses]
    if not rows:
        say("no hypotheses yet: `mlr-copilot ideas PAPER.pdf` proposes them")
        return
    print_table(("rank", "id", "status", "score", "title", "metric"), rows, free=(4, 5))


def print_usage(engine: Engine) -> None:
    usage = engine.usage()
    cost_text = f", ${usage.cost_usd:.4f}" if usage.cost_usd else ""
    print(f"LLM: {usage.input_tokens} input + {usage.output_tokens} output tokens{cost_text}", file=sys.stderr)


def print_record(record: RunRecord, as_json: bool, results_file: str) -> None:
    from ..runners.pinning import pin  # a command imports what it uses (start-up time)

    if as_json:
        print(record.model_dump_json(indent=2))
        return
    value = record.primary_value
    metric = f"{record.primary_metric}={value:.6g}" if value is not None else "no primary metric"
    say(f"run {record.id} at {(record.commit or 'no commit')[:12]} [{record.runner}]: {record.status}, {metric}, {record.duration_s}s")
    for failure in record.failures:
        where = pin(record, failure, results_file)
        say(f"  {where.path}:{where.line}: {failure.kind}: {failure.message}")
    say(f"  log: {record.log_path}")
