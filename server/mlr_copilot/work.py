"""What a long engine operation gets from its caller: a way to report progress and a way to
be cancelled. The LSP layer wires these to work-done progress; the CLI to the terminal."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from .errors import MlrError


class Cancelled(MlrError):
    def __init__(self, what: str = "the operation"):
        super().__init__(f"{what} was cancelled")


def _ignore(message: str, percentage: int | None = None) -> None:
    return None


@dataclass
class Work:
    report: Callable[[str, int | None], None] = _ignore
    cancel: threading.Event = field(default_factory=threading.Event)

    def check(self, what: str = "the operation") -> None:
        if self.cancel.is_set():
            raise Cancelled(what)

    def say(self, message: str, percentage: int | None = None) -> None:
        self.check()
        self.report(message, percentage)
