"""`history`, `compare`: the runs commit by commit (and the latest search's tree), and two
runs side by side."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ..errors import MlrError
from .output import say
from .parser import Commands
from .session import engine_for

if TYPE_CHECKING:
    from ..engine import Engine
    from ..history.tree import SearchTree


def cmd_history(args: argparse.Namespace) -> int:
    from ..history.render import render_csv, render_md, render_search_tree

    engine = engine_for(args, lazy=True)
    table = engine.history_table(args.branch, all_branches=True)
    if args.csv or args.md:
        sys.stdout.write(render_csv(table) if args.csv else render_md(table))
        return 0
    tree = latest_tree(engine)
    if args.json:
        from ..plain import jsonable

        data = json.loads(table.to_json())
        data["search"] = jsonable(tree) if tree else None
        print(json.dumps(data, indent=2))
    else:
        say(table.render_text())
        if tree is not None:
            say()
            say(render_search_tree(tree))
    return 0


def latest_tree(engine: Engine) -> SearchTree | None:
    """The latest search's tree; a journal that cannot be read is said in a line, and the
    history is shown without it."""
    if not (engine.state.root / "search").is_dir():
        return None  # no search yet (search/store.py's folder)
    from ..history.tree import tree_of
    from ..search import store
    from ..search.summary import read_summary

    try:
        session = store.latest_session(engine.workspace)
    except MlrError:
        return None
    try:
        # its summary: the journal's model (pydantic) only for a file the summary cannot read
        return tree_of(read_summary(engine.workspace, session))
    except (MlrError, OSError, ValueError):
        pass
    try:
        return tree_of(engine.search_journal(session))
    except MlrError as exc:
        say(f"mlr-copilot history: {exc}", err=True)
        return None


def cmd_compare(args: argparse.Namespace) -> int:
    comparison = engine_for(args, lazy=True).compare(args.run_a, args.run_b)
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
