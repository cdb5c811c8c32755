"""The command line's log lines: configured when anything imports `logging`, so a command that
never logs does not import it (start-up), and every line that is logged, from a module imported
before or after the configuring, keeps the control characters of the text it quotes visible."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.test_cli import ENV
from tests.cli.test_startup_imports import imported, lived_in  # noqa: F401  (a fixture)

LOGS = """
import sys
from mlr_copilot.cli.logs import configure_logging
if sys.argv[1] == "before":
    import logging
configure_logging(sys.argv[2] == "-v")
print("logging" in sys.modules)
import json  # another import passes by the finder
import logging
logging.getLogger("mlr_copilot.ideas").warning("reply: %s", "a\\x1b]0;title\\x07b\\u202e")
logging.getLogger("mlr_copilot.ideas").info("detail")
print(any(type(finder).__name__ == "_OnImport" for finder in sys.meta_path))
"""


@pytest.mark.parametrize("imported_first", ["before", "after"])
@pytest.mark.parametrize("verbose", ["-v", ""])
def test_log_lines_keep_control_characters_visible_whenever_logging_is_imported(imported_first, verbose):
    result = subprocess.run([sys.executable, "-c", LOGS, imported_first, verbose], capture_output=True, text=True,
                            env=ENV, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(imported_first == "before"), "False"]
    lines = ["WARNING mlr_copilot.ideas: reply: a\\x1b]0;title\\x07b\\u202e"]
    if verbose:
        lines.append("INFO mlr_copilot.ideas: detail")
    assert result.stderr.splitlines() == lines


@pytest.mark.parametrize("command, code", [(["status"], 0), (["hypotheses"], 0), (["queue"], 0), (["queue", "--json"], 0),
                                           (["accept", "h9"], 2), (["reject", "h9"], 2)])
def test_commands_that_log_nothing_do_not_import_logging(lived_in, command, code):  # noqa: F811
    probe = imported(*command, "-w", str(lived_in))
    assert probe["code"] == code, probe["err"]
    assert "logging" not in probe["modules"]
