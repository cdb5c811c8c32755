"""Where a run's output goes: a log file that keeps everything up to a cap, and a live line
callback that is throttled so a chatty script cannot flood the editor.

Past the cap the output is dropped (the run goes on) but its last bytes are still kept: a
traceback printed after gigabytes of logging is what the user needs most. Known secret values
are masked before the output goes anywhere.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .metrics import metrics_from_log

log = logging.getLogger(__name__)

MB = 1024 * 1024
TAIL_BYTES = 64 * 1024
MAX_LINE_CHARS = 2000
MASK = b"***"


class LineThrottle:
    """Passes at most `per_window` lines to `on_line` per `window` seconds and reports how
    many were held back, so the user knows the live view is a sample."""

    def __init__(self, on_line: Callable[[str], None], *, per_window: int = 100, window: float = 0.5):
        self.on_line = on_line
        self.per_window = per_window
        self.window = window
        self._window_start = time.monotonic()
        self._sent = 0
        self._omitted = 0
        self._partial = b""

    def feed(self, data: bytes) -> None:
        now = time.monotonic()
        if now - self._window_start >= self.window:
            self._report_omitted()
            self._window_start = now
            self._sent = 0
        if self._sent >= self.per_window:
            # Over budget: only count lines, without decoding them.
            newlines = data.count(b"\n")
            if newlines:
                self._omitted += newlines
                self._partial = data[data.rfind(b"\n") + 1 :][-MAX_LINE_CHARS:]
            else:
                self._partial = (self._partial + data)[-MAX_LINE_CHARS:]
            return
        chunks = (self._partial + data).split(b"\n")
        self._partial = chunks.pop()[-MAX_LINE_CHARS * 4 :]
        for index, raw in enumerate(chunks):
            if self._sent >= self.per_window:
                self._omitted += len(chunks) - index
                break
            self._emit(raw)

    def close(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = b""
        self._report_omitted()

    def _emit(self, raw: bytes) -> None:
        # A progress bar rewrites its line with \r: only its latest state is worth showing.
        text = raw.decode("utf-8", errors="replace").rstrip("\r").rsplit("\r", 1)[-1]
        self._sent += 1
        self._call(text[:MAX_LINE_CHARS])

    def _call(self, text: str) -> None:
        # A broken live view must not stall the run: the output keeps draining into the log.
        try:
            self.on_line(text)
        except Exception:
            log.exception("the live output callback failed; live lines are off for this run")
            self.on_line = lambda _text: None

    def _report_omitted(self) -> None:
        if self._omitted:
            count, self._omitted = self._omitted, 0
            self._call(f"[mlr-copilot: {count} lines not shown live; the log file has them]")


class SecretScrubber:
    """Replaces known secret values in the output with `***`. A value cut in two by a chunk
    boundary is caught by holding back the end of a chunk while it could begin a secret (or
    a longer one, where one secret starts another); only those few bytes wait, so the live
    view does not lag."""

    def __init__(self, secrets: Iterable[str]):
        self.secrets = sorted({secret.encode() for secret in secrets if secret}, key=len, reverse=True)
        # Alternatives are tried in order, so at any position the longest secret wins.
        self._pattern = re.compile(b"|".join(re.escape(secret) for secret in self.secrets)) if self.secrets else None
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        data = self._held + data
        cut = len(data) - self._pending(data)
        # A substring test is some 25 times faster than the pattern: most output holds no secret.
        if not any(secret in data for secret in self.secrets):
            self._held = data[cut:]
            return data[:cut]
        for match in self._pattern.finditer(data):
            if match.start() < cut < match.end():
                cut = match.start()
                break
        self._held = data[cut:]
        return self._pattern.sub(MASK, data[:cut])

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self._pattern.sub(MASK, held) if self._pattern is not None else held

    def _pending(self, data: bytes) -> int:
        """The length of the longest end of `data` that is the start, not the whole, of a secret."""
        longest = 0
        for secret in self.secrets:
            tail = data[-(len(secret) - 1) :] if len(secret) > 1 else b""
            start = tail.find(secret[:1])
            while start >= 0 and len(tail) - start > longest:
                if secret.startswith(tail[start:]):
                    longest = len(tail) - start
                    break
                start = tail.find(secret[:1], start + 1)
        return longest


class MetricScanner:
    """Reads `METRIC name=value` lines as the output streams, so a run's metrics are known when
    it ends without reading back a log of any size (which would stall the server)."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        self._partial = b""

    def feed(self, data: bytes) -> None:
        text = self._partial + data
        cut = text.rfind(b"\n")
        if cut < 0:
            self._partial = text[-MAX_LINE_CHARS:]
            return
        complete, self._partial = text[:cut], text[cut + 1 :][-MAX_LINE_CHARS:]
        if b"METRIC" in complete.upper():
            self.metrics.update(metrics_from_log(complete.decode("utf-8", errors="replace")))

    def close(self) -> None:
        self.feed(b"\n")


class LogSink:
    """Receives raw output chunks from a runner; writes the log file, feeds the live view and
    picks up metric lines."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        on_line: Callable[[str], None] | None = None,
        secrets: Iterable[str] = (),
    ):
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")
        self._throttle = LineThrottle(on_line) if on_line is not None else None
        self.written = 0
        self.dropped = 0
        self._tail = bytearray()
        self._metrics = MetricScanner()
        self._scrubber = SecretScrubber(secrets)

    @property
    def metrics(self) -> dict[str, float]:
        """The last value of each metric line seen so far, past the output cap included."""
        return self._metrics.metrics

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def feed(self, data: bytes) -> None:
        self._keep(self._scrubber.feed(data))

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self._metrics.feed(data)
        room = self.max_bytes - self.written
        if room > 0:
            kept = data[:room]
            self._file.write(kept)
            self._file.flush()
            self.written += len(kept)
            if self._throttle is not None:
                self._throttle.feed(kept)
            data = data[room:]
        if data:
            if not self.dropped:
                self._write_marker()
            self.dropped += len(data)
            self._tail += data
            if len(self._tail) > 2 * TAIL_BYTES:
                del self._tail[:-TAIL_BYTES]

    def note(self, text: str) -> None:
        """A line from the runner itself (not the program), always written and shown."""
        line = f"[mlr-copilot: {text}]\n".encode()
        self._file.write(line)
        self._file.flush()
        if self._throttle is not None:
            self._throttle.feed(line)

    def close(self) -> None:
        if self._file.closed:
            return
        self._keep(self._scrubber.flush())
        self._metrics.close()
        if self.dropped:
            tail = bytes(self._tail[-TAIL_BYTES:])
            # Start the kept tail at a line boundary when there is one.
            cut = tail.find(b"\n")
            if 0 <= cut < len(tail) - 1 and self.dropped > len(tail):
                tail = tail[cut + 1 :]
            self._file.write(
                f"\n[mlr-copilot: {self.dropped / MB:.1f} MB of output dropped in all; "
                f"the last {len(tail) / 1024:.0f} KB follow]\n".encode()
            )
            self._file.write(tail)
        self._file.close()
        if self._throttle is not None:
            self._throttle.close()

    def _write_marker(self) -> None:
        marker = (
            f"\n[mlr-copilot: output passed the cap of {self.max_bytes / MB:g} MB; the rest is "
            f"dropped (the run goes on) except its last {TAIL_BYTES // 1024} KB, kept at the end]\n"
        ).encode()
        self._file.write(marker)
        self._file.flush()
        if self._throttle is not None:
            self._throttle.feed(marker)
