"""The one way untrusted text is shown: control characters as escapes, the rest as written."""

from __future__ import annotations

import pytest

from mlr_copilot.untrusted import one_line, scrub, visible


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
    ("\x9b31m C1 CSI, \x85 NEL", "\\x9b31m C1 CSI, \\x85 NEL"),
    ("over\rwrite\x08 and \x00", "over\\x0dwrite\\x08 and \\x00"),
    ("admin\u202e\u2066txt.exe", "admin\\u202e\\u2066txt.exe"),
    ("tabs\tand\nlines stay", "tabs\tand\nlines stay"),
    ("[/bold] [ref:4] x[i] :smile:", "[/bold] [ref:4] x[i] :smile:"),
    ("می\u200cخواهم 👩\u200d💻 café", "می\u200cخواهم 👩\u200d💻 café"),
    ("half \ud800 a character", "half \ufffd a character"),
])
def test_visible_escapes_controls_and_keeps_the_rest(raw, shown):
    assert visible(raw) == shown
    visible(raw).encode("utf-8")


def test_one_line_and_scrub():
    assert one_line("a\nb\x1b") == "a\\nb\\x1b"
    assert scrub("\udfffok") == "\ufffdok"
    assert visible(42) == "42"
