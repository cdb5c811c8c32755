"""The command line: the options every command shares, and `Commands`, with which each command
group declares its subcommands, their flags and the function that runs each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import __version__
from ..llm.providers import provider_names

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

# a subcommand: the parsed arguments in, the exit status out
Handler = Callable[[argparse.Namespace], int]


class Commands:
    """The subcommands being declared, each with the function that runs it (`args.handler`)."""

    def __init__(self, sub: SubParsers, common: argparse.ArgumentParser):
        self._sub = sub
        self._common = common

    def add(self, name: str, handler: Handler, help: str, *, common: bool = True) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, parents=[self._common] if common else [], help=help)
        parser.set_defaults(handler=handler)
        return parser


def common_options() -> argparse.ArgumentParser:
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


def build_parser(groups: list[Callable[[Commands], None]]) -> argparse.ArgumentParser:
    """The whole command line; each of `groups` declares its commands, in the order of `--help`."""
    parser = argparse.ArgumentParser(
        prog="mlr-copilot",
        description="A machine-learning research copilot: from a paper to hypotheses, code and experiments.",
    )
    parser.add_argument("--version", action="version", version=f"mlr-copilot {__version__}")
    commands = Commands(parser.add_subparsers(dest="command", metavar="COMMAND"), common_options())
    for declare in groups:
        declare(commands)
    return parser
