"""Line text made readable: hyphens at line ends, PDFium's hyphen marks and ligatures."""

from __future__ import annotations

import re

from mlr_copilot.paper.layout import TextLine

_MARKED_HYPHEN = re.compile(r"(\S*?)[\ufffe\x02](?=[a-z])")
_HYPHENS = "-\u00ad\ufffe\x02\u2010"
_CLEAN = {
    "\ufffe": "-", "\x02": "-", "\u00ad": "-", "\u2010": "-",
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st",
}
_LETTERS = re.compile(r"[^\W\d_]")


def join_lines(lines: list[TextLine]) -> str:
    """Lines as running text: words split by a line-end hyphen joined, paragraphs apart."""
    out: list[str] = []
    for line in lines:
        text = " ".join(unhyphenate(line.text).split())
        if not text:
            continue
        if not out:
            out.append(text)
        elif line.paragraph_start:
            out.append("\n\n" + text)
        elif out[-1][-1] in _HYPHENS:
            out.append(_continue(out, text))
        else:
            out.append(" " + text)
    return clean("".join(out))


def _continue(out: list[str], text: str) -> str:
    """The separator and text that follow the line so far; may trim the previous hyphen."""
    prev = out[-1]
    if len(prev) >= 2 and prev[-1] in _HYPHENS and prev[-2].isalpha():
        last_word = prev.rsplit(None, 1)[-1]
        # "experi-" + "ment" is one word; "state-of-the-" + "art" keeps its hyphens.
        if text[0].islower() and not any(h in last_word[:-1] for h in _HYPHENS):
            out[-1] = prev[:-1]
            return text
        return text if prev[-1] != "-" or text[0].isalnum() else " " + text
    return " " + text


def norm(text: str) -> str:
    return " ".join(clean(unhyphenate(text)).split())


def clean(text: str) -> str:
    """Hyphen marks as plain hyphens and ligatures as their letters.

    Not `str.translate`: one character outside ASCII (a single PDFium hyphen mark will do)
    sends it to a dict lookup per character, some 5 ms for a 40,000-character section
    against 0.02 ms for these few scans.
    """
    for mark, plain in _CLEAN.items():
        if mark in text:
            text = text.replace(mark, plain)
    return text


def unhyphenate(text: str) -> str:
    """Drop the hyphens PDFium marks inside a word it already joined across lines."""
    if "\ufffe" not in text and "\x02" not in text:
        return text
    return _MARKED_HYPHEN.sub(lambda m: m.group(1) + ("-" if "-" in m.group(1) else ""), text)


def alpha_share(text: str) -> float:
    """The share of letters among the text's non-space characters."""
    letters = len(_LETTERS.findall(text))
    return letters / max(1, len(text) - text.count(" "))
