"""The command line built for the command it runs: a command named first gets its own parser
alone (start-up), which must parse and help exactly as the whole command line does; `--help`,
no command and an unknown one get every command."""

from __future__ import annotations

import argparse

import pytest

from mlr_copilot import __version__, cli
from mlr_copilot.cli.parser import build_parser
from tests.cli.test_cli import cli as run_cli

COMMON = ("--workspace", "--provider", "--model", "--base-url", "--script", "--budget", "--offline", "--verbose")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [sub] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(sub.choices)


# every command, as the groups declare them (read from the whole command line, never listed here)
EVERY = list(subcommands(build_parser(cli.GROUPS)))


def test_the_groups_declare_every_command_once_and_in_the_order_of_help():
    assert len(EVERY) >= 20 and len(set(EVERY)) == len(EVERY)
    assert {"status", "history", "queue", "accept", "demo", "search", "checkout-run"} <= set(EVERY)


@pytest.mark.parametrize("name", EVERY)
def test_a_named_command_is_built_alone_and_helps_as_in_the_whole_command_line(name):
    alone = subcommands(build_parser(cli.GROUPS, [name, "--help"]))
    assert list(alone) == [name]
    whole = subcommands(build_parser(cli.GROUPS))[name]
    assert alone[name].format_help() == whole.format_help()


@pytest.mark.parametrize("name", EVERY)
def test_every_commands_help_works_and_lists_the_common_options(name, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mlr-copilot {name} ")
    # `demo` makes its own workspace and takes no LLM flags: it declares only these of them
    shared = ("--workspace", "--verbose") if name == "demo" else COMMON
    assert all(option in out for option in shared), out


@pytest.mark.parametrize("argv", [
    ["status", "-w", "/tmp/ws", "--provider", "scripted", "--budget", "2"],
    ["queue", "cancel", "r1", "--json"],
    ["queue", "--cancel", "r1"],
    ["run", "--runner", "local", "--timeout", "5", "--", "python", "train.py"],
    ["search", "--improve", "n003", "--instruction", "try a wider net", "--seeds", "2"],
    ["accept", "h2", "--reason", "plausible"],
    ["reject", "h3"],
    ["history", "--csv", "--branch", "main"],
    ["demo", "--runner", "local"],
    ["eval", "--compare", "--runs", "2"],
])
def test_a_command_alone_parses_its_arguments_as_the_whole_command_line(argv):
    alone = vars(build_parser(cli.GROUPS, argv).parse_args(argv))
    whole = vars(build_parser(cli.GROUPS).parse_args(argv))
    # `accept` and `reject` get a handler made for them each time the command line is built
    assert alone.pop("handler").__qualname__ == whole.pop("handler").__qualname__
    assert alone == whole


@pytest.mark.parametrize("argv, error", [
    (["queue", "--nonesuch"], "mlr-copilot: error: unrecognized arguments: --nonesuch"),
    (["queue", "stop"], "mlr-copilot queue: error: argument action: invalid choice: 'stop' (choose from 'cancel')"),
    (["accept"], "mlr-copilot accept: error: the following arguments are required: id"),
])
def test_a_commands_bad_arguments_are_the_same_one_line_error_as_before(argv, error, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == error


def test_an_unknown_command_is_argparses_one_line_error_listing_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["statuss", "-w", "."])
    assert done.value.code == 2
    *usage, error = capsys.readouterr().err.splitlines()
    assert usage == ["usage: mlr-copilot [-h] [--version] COMMAND ..."]
    choices = ", ".join(f"'{name}'" for name in EVERY)
    assert error == f"mlr-copilot: error: argument COMMAND: invalid choice: 'statuss' (choose from {choices})"


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h", "status"], ["--help", "nonesuch"]])
def test_no_command_or_help_first_prints_the_help_of_every_command(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mlr-copilot [-h] [--version] COMMAND ...")
    assert all(f"\n    {name}" in out for name in EVERY)


@pytest.mark.parametrize("argv", [["--version"], ["--version", "status"]])
def test_version(argv, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0
    assert capsys.readouterr().out == f"mlr-copilot {__version__}\n"


def test_the_installed_entry_alone_prints_the_help_and_version_as_a_process():
    alone = run_cli()
    assert alone.returncode == 0 and alone.stdout.startswith("usage: mlr-copilot") and "checkout-run" in alone.stdout
    version = run_cli("--version")
    assert (version.returncode, version.stdout) == (0, f"mlr-copilot {__version__}\n")
