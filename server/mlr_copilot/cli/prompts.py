"""The questions a command asks on the terminal: review a proposed change, initialise a git
repository, go on after a phase of the autonomous mode. `--yes` answers every one "yes"; a
closed standard input answers "no" (or "go on", between phases)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..untrusted import visible
from .output import say, say_styled

if TYPE_CHECKING:
    from ..experiment.change import Proposal, Review, Reviewer


def terminal_reviewer(auto_yes: bool) -> Reviewer:
    """Show each proposed diff and ask; `--yes` accepts everything (the autonomous mode)."""

    async def review(proposal: Proposal) -> Review:
        from ..experiment.change import Review  # the agent's module: only when there is a change

        say_styled(("\nProposed change", "bold"), (f" {proposal.id}: {proposal.summary}", ""))
        if proposal.why:
            say(proposal.why)
        print_diff(proposal.diff)
        if auto_yes:
            say_styled(("accepted (--yes)", "green"))
            return Review(True)
        try:
            answer = input("Accept this change? [y]es / [n]o / or type a reason to reject: ").strip()
        except EOFError:
            return Review(False, reason="no answer: standard input is closed (use --yes to accept)")
        if answer.lower() in ("y", "yes"):
            return Review(True)
        return Review(False, reason="" if answer.lower() in ("n", "no", "") else answer)

    return review


def print_diff(diff: str) -> None:
    """A unified diff on stdout, verbatim, its lines coloured as `git diff` colours them when
    stdout is a terminal that shows colour."""
    from .table import paint, wants_colour

    colour = wants_colour(sys.stdout)
    for line in visible(diff).removesuffix("\n").split("\n"):  # not splitlines: U+2028 is no line break of the diff
        print(paint(line, _diff_style(line), colour))


def _diff_style(line: str) -> str:
    if line.startswith(("diff --git ", "index ", "--- ", "+++ ", "new file", "deleted file", "rename ", "similarity ")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    return {"+": "green", "-": "red"}.get(line[:1], "")


def terminal_confirm(auto_yes: bool) -> Callable[[str], Awaitable[bool]]:
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


def interactive_ask() -> Callable[[str, str], Awaitable[str]]:
    async def ask(phase: str, summary: str) -> str:
        say(f"\n== after the {phase} phase ==\n{summary}")
        try:
            return input("Enter to continue, 'skip', 'stop', or feedback text: ")
        except EOFError:
            return ""

    return ask
