"""`history`, `compare`: the runs commit by commit, and two runs side by side."""

from __future__ import annotations

import argparse
import sys

from .output import say
from .parser import Commands
from .session import engine_for


def cmd_history(args: argparse.Namespace) -> int:
    from ..history.render import render_csv, render_md  # pydantic, only once there is a table

    table = engine_for(args).history(args.branch, all_branches=True)
    if args.json:
        print(table.to_json())
    elif args.csv or args.md:
        sys.stdout.write(render_csv(table) if args.csv else render_md(table))
    else:
        say(table.render_text())
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    comparison = engine_for(args).compare(args.run_a, args.run_b)
    if args.json:
        print(comparison.to_json())
    else:
        say(comparison.render_text())
    return 0


def declare(commands: Commands) -> None:
    p = commands.add("history", cmd_history, "the runs commit by commit with their metrics and the change against the baseline")
    p.add_argument("--branch", help="show only this branch (default: the base branch and every hypothesis branch)")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the table as JSON")
    shape.add_argument("--csv", action="store_true", help="print the table as CSV, a column per metric")
    shape.add_argument("--md", action="store_true", help="print the table as Markdown")
    p = commands.add("compare", cmd_compare, "two runs side by side: metrics, settings and the code diff")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--json", action="store_true")
