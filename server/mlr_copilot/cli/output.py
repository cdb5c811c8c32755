"""How results reach the terminal. Results go to stdout, progress and warnings to stderr; any
text that may come from an LLM, a paper or the workspace goes through `say` or `shown`, which
keep its control characters visible (`untrusted.visible`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..untrusted import one_line, visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..engine import Engine
    from ..ideas.model import Hypothesis
    from ..ideas.summary import HypothesisSummary
    from ..runners.model import RunRecord
    from ..work import Work


def say(text: object = "", *, err: bool = False) -> None:
    """Print a line that may hold LLM, paper or workspace text, verbatim (`untrusted.visible`).
    Every result and message the terminal shows goes through here or `shown`."""
    print(visible(text), file=sys.stderr if err else sys.stdout, flush=err)


def shown(text: object, style: str = "") -> Text:
    """Untrusted text as a Rich `Text`: never parsed as markup or emoji codes."""
    from rich.text import Text  # rich only for the commands that print tables

    return Text(visible(text), style=style)


def console() -> Console:
    from rich.console import Console  # rich only for the commands that print tables

    # piped output keeps whole lines: tables are read by scripts and tests too
    return Console(highlight=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


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
    from rich.table import Table  # as above

    table = Table("rank", "id", "status", "score", "title", "metric")
    for h in hypotheses:
        table.add_row(*(shown(one_line(cell)) for cell in (
            h.rank, h.id, h.status, f"{h.score:g}", h.title, f"{h.plan.metric} ({h.plan.direction})")))
    console().print(table)


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
