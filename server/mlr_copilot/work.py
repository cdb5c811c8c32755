"""What a long engine operation gets from its caller: a way to report progress and a way to
be cancelled. The LSP layer wires these to work-done progress; the CLI to the terminal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

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

    def phase(self, start: int, end: int) -> Work:
        """The Work for one phase of this operation: the phase's own 0-100% fill this one's
        [start, end]. Phases given in order, each counting up, give percentages that never go
        back, whatever numbers a nested step (reading a paper, implementing) uses."""

        def report(message: str, percentage: int | None = None) -> None:
            self.say(message, None if percentage is None else start + (end - start) * min(max(percentage, 0), 100) // 100)

        return Work(report=report, cancel=self.cancel)
