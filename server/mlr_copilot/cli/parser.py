"""The command line: the options every command shares, and `Commands`, with which each command
group declares its subcommands, their flags and the function that runs each.

A command line that names a command builds that command's parser only: the groups still run
their declarations (the names live there, once), but every other command's is dropped as it is
made (`_Dropped`), since building ~22 parsers, each with a copy of the common options, was a
good part of every command's start-up (bench/bench_startup.py). `--help`, no command or a name
no group declares get the whole command line, so the help and argparse's "invalid choice"
list every command."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from .. import __version__

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

# a subcommand: the parsed arguments in, the exit status out
Handler = Callable[[argparse.Namespace], int]


class _Dropped:
    """Takes the declarations of a command that is not being run, and keeps none of them: the
    parts of `ArgumentParser` the groups use to declare a command."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        pass

    def add_mutually_exclusive_group(self, **kwargs: Any) -> _Dropped:
        return self


_DROPPED = cast(argparse.ArgumentParser, _Dropped())


class Commands:
    """The subcommands being declared, each with the function that runs it (`args.handler`);
    with `only`, that one command alone is built (`built` says whether a group declared it)."""

    def __init__(self, sub: SubParsers, only: str | None = None):
        self._sub = sub
        self._only = only
        self._common: argparse.ArgumentParser | None = None
        self.built = False

    def add(self, name: str, handler: Handler, help: str, *, common: bool = True) -> argparse.ArgumentParser:
        if self._only is not None and name != self._only:
            return _DROPPED
        self.built = True
        if common and self._common is None:
            self._common = common_options()  # made once, copied into each command that shares it
        parser = self._sub.add_parser(name, parents=[self._common] if common and self._common else [], help=help)
        parser.set_defaults(handler=handler)
        return parser


def common_options() -> argparse.ArgumentParser:
    from ..llm.providers import provider_names  # the names only: no provider's module

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", default=".", help="the research workspace (default: the current folder)")
    common.add_argument("--provider", choices=provider_names(), help="LLM provider")
    common.add_argument("--model", help="LLM model name")
    common.add_argument("--base-url", dest="base_url", help="base URL of an OpenAI-compatible server (vLLM, Ollama, llama.cpp)")
    common.add_argument("--script", help="JSONL of recorded replies for the scripted provider")
    common.add_argument("--budget", type=float, help="stop LLM work once this many US dollars are spent")
    common.add_argument("--offline", action="store_true", help="use no online source (literature, Hugging Face Hub)")
    common.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    return common


def _top(groups: Sequence[Callable[[Commands], None]], only: str | None) -> tuple[argparse.ArgumentParser, bool]:
    parser = argparse.ArgumentParser(
        prog="mlr-copilot",
        description="A machine-learning research copilot: from a paper to hypotheses, code and experiments.",
    )
    parser.add_argument("--version", action="version", version=f"mlr-copilot {__version__}")
    commands = Commands(parser.add_subparsers(dest="command", metavar="COMMAND"), only)
    for declare in groups:
        declare(commands)
    return parser, commands.built


def build_parser(groups: Sequence[Callable[[Commands], None]], argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The command line for `argv`; each of `groups` declares its commands, in the order of
    `--help`. A command named first is built alone; an option first (`--help`, `--version`,
    which argparse acts on before any command) or no command builds them all."""
    if argv and not argv[0].startswith("-"):
        parser, built = _top(groups, argv[0])
        if built:
            return parser
    return _top(groups, None)[0]
