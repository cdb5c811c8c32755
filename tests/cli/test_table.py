"""The terminal's plain tables (cli/table.py): columns aligned by display width, free text cut to
the terminal's width with an ellipsis, whole lines when piped, control characters visible, and
colour only on a terminal that has not said NO_COLOR, in-process and as `mlr-copilot queue`
run on a real pseudo-terminal."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlr_copilot.cli.table import (
    Styled,
    clip,
    display_width,
    print_table,
    table_lines,
    wants_colour,
)
from mlr_copilot.plain import jsonable
from mlr_copilot.runners.queue_records import QueueEntry, entry_path
from mlr_copilot.state import write_json
from mlr_copilot.untrusted import visible
from tests.cli.test_cli import ENV, cli, no_traceback

SGR = re.compile(r"\x1b\[[0-9;]*m")
HOSTILE = "\x1b]0;pwned\x07\x1b[2Jcleared\nforged row\tand a tab"
LONG = "a note long enough that no terminal of sixty columns shows it whole, " * 3


def starts(line: str, cells: list[str]) -> list[int]:
    """The display column where each of `cells` starts in `line`."""
    found, at = [], 0
    for cell in cells:
        index = line.index(cell, at)
        found.append(display_width(line[:index]))
        at = index + len(cell)
    return found


def test_columns_are_as_wide_as_their_widest_cell_and_aligned():
    lines = table_lines(("rank", "id", "title"), [(1, "h1", "Short"), (10, "h22", "A longer title")])
    assert lines == ["rank  id   title",
                     "1     h1   Short",
                     "10    h22  A longer title"]
    assert all(line == line.rstrip() for line in lines)


def test_an_empty_table_is_its_header_and_an_empty_last_cell_leaves_no_trailing_space():
    assert table_lines(("run", "state"), []) == ["run  state"]
    assert table_lines(("run", "note"), [("r1", ""), ("r22", "x")]) == ["run  note", "r1", "r22  x"]


def test_free_text_is_cut_to_the_width_with_an_ellipsis_and_whole_without_one():
    rows = [("h1", "accepted", LONG, "accuracy (maximize)")]
    whole = table_lines(("id", "status", "title", "metric"), rows, free=(2, 3))
    assert LONG.strip() in whole[1]
    fitted = table_lines(("id", "status", "title", "metric"), rows, free=(2, 3), limit=60)
    assert all(display_width(line) <= 60 for line in fitted)
    # the widest free column is cut, not the others
    assert "accepted" in fitted[1] and "accuracy (maximize)" in fitted[1]
    title = fitted[1][fitted[1].index("a note"):fitted[1].index("accuracy")].rstrip()
    assert title.endswith("…") and LONG.startswith(title[:-1])


def test_free_columns_share_the_cut_and_stop_at_their_floor():
    rows = [("r1", "x" * 50, "y" * 50)]
    fitted = table_lines(("run", "of", "note"), rows, free=(1, 2), limit=60)
    assert display_width(fitted[1]) == 60
    of, note = fitted[1].split()[1:]
    assert abs(display_width(of) - display_width(note)) <= 1
    # too narrow for any cut to help: the free columns keep their floor and the line overflows
    narrow = table_lines(("run", "of", "note"), rows, free=(1, 2), limit=5)
    assert [display_width(cell) for cell in narrow[1].split()] == [2, 10, 10]


def test_control_characters_and_line_breaks_stay_visible_in_a_cell():
    lines = table_lines(("id", "title"), [("h1", HOSTILE)])
    assert len(lines) == 2
    assert "\\x1b]0;pwned\\x07\\x1b[2Jcleared\\nforged row and a tab" in lines[1]
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", "".join(lines))
    # with colour on, the only escape sequences are the table's own styles
    coloured = table_lines(("id", "state"), [(HOSTILE, Styled(HOSTILE, "red"))], colour=True)
    assert "\x1b" not in SGR.sub("", "".join(coloured))


def test_wide_characters_take_two_columns_and_are_never_cut_in_half():
    title = "深度学习模型的改进"  # nine wide characters: 18 columns
    assert display_width(title) == 18 and display_width("e\u0301") == 1
    lines = table_lines(("title", "score"), [(title, "0.9"), ("ascii", "0.8")])
    assert starts(lines[1], [title, "0.9"]) == starts(lines[2], ["ascii", "0.8"]) == [0, 20]
    fitted = table_lines(("id", "title"), [("h1", title * 3)], free=(1,), limit=20)
    assert all(display_width(line) <= 20 for line in fitted)
    assert fitted[1].endswith("…")
    assert clip(title, 6) == "深度…" and clip(title, 7) == "深度学…" and clip(title, 18) == title


def test_styles_show_only_when_colour_is_on():
    rows = [("r1", Styled("failed", "red")), ("r2", Styled("finished", "green"))]
    plain = table_lines(("run", "state"), rows)
    coloured = table_lines(("run", "state"), rows, colour=True)
    assert "\x1b" not in "".join(plain)
    assert "\x1b[31mfailed\x1b[0m" in coloured[1] and coloured[0].startswith("\x1b[1mrun\x1b[0m")
    assert [SGR.sub("", line) for line in coloured] == plain


@pytest.fixture
def terminal():
    """A real pseudo-terminal: its writing end as a text stream, and its reading end."""
    reader, writer = os.openpty()
    with open(writer, "w", encoding="utf-8") as stream:
        yield stream, reader
    os.close(reader)


def test_colour_is_wanted_on_a_terminal_unless_no_color_says_no(terminal, monkeypatch):
    stream, _ = terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wants_colour(stream)
    assert not wants_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_colour(stream)
    monkeypatch.setenv("NO_COLOR", "")  # empty: not set (no-color.org)
    assert wants_colour(stream)


def test_piped_the_table_is_whole_and_plain(capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "30")  # a terminal's width, which a pipe has not
    print_table(("run", "state", "note"), [("r1", Styled("failed", "red"), LONG)], free=(2,))
    out = capsys.readouterr().out
    assert "\x1b" not in out and LONG.strip() in out


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the writing end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def on_terminal(argv: list[str], env: dict[str, str]) -> str:
    """What `argv` prints to a real pseudo-terminal."""
    reader, writer = os.openpty()
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=writer, stderr=subprocess.PIPE, env=env)
        os.close(writer)
        out = read_all(reader)
        _, err = process.communicate(timeout=60)
    finally:
        os.close(reader)
    assert process.returncode == 0, err
    return out


@pytest.fixture
def queued(tmp_path: Path) -> Path:
    """A workspace whose queue holds two ended runs, one with a long, hostile reason."""
    for run_id, state, reason in (("r-done", "finished", None), ("r-broke", "failed", f"{HOSTILE} {LONG}")):
        entry = QueueEntry(run_id=run_id, state=state, node="任务-n001", host="h", pid=1, enqueued_at=1.0,
                           started_at=2.0, finished_at=5.0, reason=reason)
        path = entry_path(tmp_path, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, jsonable(entry))
    return tmp_path


def test_queue_on_a_terminal_fits_its_width_in_colour_and_piped_keeps_whole_plain_lines(queued):
    argv = [sys.executable, "-m", "mlr_copilot.cli", "queue", "-w", str(queued)]
    env = {k: v for k, v in ENV.items() if k != "NO_COLOR"}
    shown = on_terminal(argv, {**env, "COLUMNS": "70", "TERM": "xterm"})
    lines = shown.splitlines()
    assert len(lines) == 3 and "\x1b[31mfailed\x1b[0m" in shown and "\x1b[32mfinished\x1b[0m" in shown
    assert all(display_width(SGR.sub("", line)) <= 70 for line in lines)
    broke = SGR.sub("", next(line for line in lines if "r-broke" in line))
    assert "任务-n001" in broke and broke.endswith("…") and "\\x1b]0;pwned\\x07" in broke
    assert "\x1b" not in SGR.sub("", shown)

    assert "\x1b" not in on_terminal(argv, {**env, "COLUMNS": "70", "TERM": "xterm", "NO_COLOR": "1"})

    piped = cli("queue", "-w", str(queued))
    no_traceback(piped)
    assert piped.returncode == 0 and "\x1b" not in piped.stdout
    rows = {line.split()[0]: line for line in piped.stdout.splitlines()[1:]}
    assert set(rows) == {"r-done", "r-broke"}
    assert rows["r-broke"].endswith(f"\\x1b]0;pwned\\x07\\x1b[2Jcleared\\nforged row and a tab {LONG}".rstrip())
    assert starts(rows["r-done"], ["r-done", "finished", "任务-n001", "3s"]) == \
        starts(rows["r-broke"], ["r-broke", "failed", "任务-n001", "3s"])


DIFF = ("diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n"
        "-EPOCHS = 3  # [/bold]\n+EPOCHS = 4  # \x1b[2J\n")


def test_the_reviews_diff_and_styled_lines_are_coloured_only_on_a_terminal(terminal, monkeypatch, capsys):
    from mlr_copilot.cli.output import say_styled
    from mlr_copilot.cli.prompts import print_diff

    stream, reader = terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    with monkeypatch.context() as on_terminal:
        on_terminal.setattr(sys, "stdout", stream)
        print_diff(DIFF)
        say_styled(("ok", "green"), ("  \x07 found", ""))
        stream.flush()
    shown = os.read(reader, 65536).decode("utf-8").replace("\r\n", "\n").splitlines()
    assert shown == ["\x1b[1mdiff --git a/train.py b/train.py\x1b[0m", "\x1b[1m--- a/train.py\x1b[0m",
                     "\x1b[1m+++ b/train.py\x1b[0m", "\x1b[36m@@ -1 +1 @@\x1b[0m",
                     "\x1b[31m-EPOCHS = 3  # [/bold]\x1b[0m", "\x1b[32m+EPOCHS = 4  # \\x1b[2J\x1b[0m",
                     "\x1b[32mok\x1b[0m  \\x07 found"]
    print_diff(DIFF)
    say_styled(("ok", "green"), ("  found", ""))
    assert capsys.readouterr().out == visible(DIFF) + "ok  found\n"
