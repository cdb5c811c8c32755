"""Text that came from outside the program (LLM replies, a paper, a cloned workspace) is data:
it is shown verbatim, never interpreted. Two things stand between such text and the user:

- `scrub`: lone UTF-16 surrogates (a JSON `\\ud800` escape decodes to one) cannot be encoded
  as UTF-8, so saving or printing them fails; they become U+FFFD.
- `visible`: control characters (ESC starting CSI/OSC sequences, BEL, backspace, a lone CR,
  the C1 range, bidi overrides) would drive the terminal; they are shown as escapes such as
  `\\x1b` instead. Newlines and tabs stay.

The terminal face passes every untrusted string through `visible` (`cli.output.say`, the
tables of `cli.table`) and interprets none as markup, so `[/bold]` or `[ref:4]` print as written.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 but \t and \n, DEL, C1, the bidi embeddings, overrides and isolates that reorder what is
# shown (joiners and direction marks stay: scripts and emoji need them), and a stray BOM.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
# Signs that mark up Markdown wherever they stand; "(" matters only after "]", "!" only before "[".
MARKDOWN_SIGNS = re.compile(r"([\\`*_\[\]<>|~#])")


def scrub(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object) -> str:
    """`text` as it can be printed safely: surrogates replaced, control characters escaped."""
    return _CONTROL.sub(_escape, scrub(str(text)))


def one_line(text: object) -> str:
    """`visible(text)` on a single line: line breaks shown as `\\n`, for table cells and
    document lines where a break would forge structure."""
    return visible(text).replace("\n", "\\n")


def markdown_inline(text: str) -> str:
    """One line of text with its Markdown signs escaped: it shows as written and never becomes
    a link, image, HTML, heading or table cell boundary."""
    return MARKDOWN_SIGNS.sub(r"\\\1", " ".join(text.split()))
