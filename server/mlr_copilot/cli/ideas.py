"""`paper`, `ideas`, `hypotheses`, `accept`, `reject`, `refine`: from a paper to reviewed
hypotheses."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MlrError
from ..untrusted import one_line

if TYPE_CHECKING:
    from ..ideas.model import Status
from .output import print_hypotheses, print_usage, say, say_styled, terminal_work
from .parser import Commands, Handler
from .session import engine_for, run_async


def cmd_paper(args: argparse.Namespace) -> int:
    import json  # only when printing JSON: not on the path of `--help`

    from ..paper import parse_pdf  # the PDF reader only for the commands that read one

    if args.md:
        say(run_async(engine_for(args).paper_markdown(str(Path(args.pdf).resolve()), terminal_work())))
        return 0
    paper = parse_pdf(Path(args.pdf))
    if args.json:
        print(json.dumps(paper.to_dict(), indent=2, ensure_ascii=False))
        return 0
    say(f"{paper.title}\n{', '.join(paper.authors)}\n{paper.pages} pages, {len(paper.sections)} sections, {len(paper.references)} references\n")
    for section in paper.sections:
        say(f"  {section.heading} ({len(section.text)} chars)")
    return 0


def cmd_ideas(args: argparse.Namespace) -> int:
    from pydantic import ValidationError  # not on the path of `--help`

    engine = engine_for(args)
    if args.n is not None:
        # validated like the setting, so the same bounds hold however the count is given
        try:
            ideas = engine.settings.ideas.model_validate({**engine.settings.ideas.model_dump(), "hypotheses": args.n})
        except ValidationError as exc:
            raise MlrError(f"--n {args.n} is invalid: {exc.errors()[0]['msg'].lower()}") from None
        engine.configure(engine.settings.model_copy(update={"ideas": ideas}))
    run = run_async(engine.propose_hypotheses(str(Path(args.pdf).resolve()), terminal_work()))
    say_styled((run.paper_title, "bold"), (f": {len(run.hypotheses)} hypotheses in {run.document}", ""))
    for note in run.notes:
        say(f"  note: {note}")
    print_hypotheses(sorted(run.hypotheses, key=lambda h: h.rank))
    print_usage(engine)
    return 0


def cmd_hypotheses(args: argparse.Namespace) -> int:
    import json  # only when printing JSON: not on the path of `--help`

    engine = engine_for(args, lazy=True)
    if args.json:
        print(json.dumps(engine.hypothesis_dumps(), indent=2))
    else:
        print_hypotheses(engine.hypothesis_summaries())  # what the table shows: no models (start-up)
    return 0


def deciding(status: Status) -> Handler:
    def decide(args: argparse.Namespace) -> int:
        hypothesis = engine_for(args, lazy=True).decide(args.id, status, args.reason or "")
        say(f"{hypothesis.id} {hypothesis.status}: {one_line(hypothesis.title)}")
        return 0

    return decide


def cmd_refine(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    hypothesis = run_async(engine.refine(args.id, args.feedback, terminal_work()))
    say(f"{hypothesis.id} refined (rank {hypothesis.rank}): {one_line(hypothesis.title)}")
    print_usage(engine)
    return 0


def declare(commands: Commands) -> None:
    p = commands.add("paper", cmd_paper, "parse a paper PDF (title, authors, abstract, sections, references)")
    p.add_argument("pdf")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the parsed paper as JSON")
    shape.add_argument("--md", action="store_true", help="print the parsed paper as a Markdown outline")
    p = commands.add("ideas", cmd_ideas, "propose ranked hypotheses with experiment plans from a paper")
    p.add_argument("pdf")
    p.add_argument("--n", type=int, help="how many hypotheses (default: the ideas.hypotheses setting, 5)")
    p = commands.add("hypotheses", cmd_hypotheses, "list the workspace's hypotheses and their decisions")
    p.add_argument("--json", action="store_true")
    decisions: tuple[tuple[str, Status], ...] = (("accept", "accepted"), ("reject", "rejected"))
    for name, status in decisions:
        p = commands.add(name, deciding(status), f"{name} a hypothesis")
        p.add_argument("id")
        p.add_argument("--reason", help="a note kept with the decision")
    p = commands.add("refine", cmd_refine, "regenerate one hypothesis with your feedback")
    p.add_argument("id")
    p.add_argument("--feedback", help="what to change (default: the 'Feedback:' lines under it in the document)")
