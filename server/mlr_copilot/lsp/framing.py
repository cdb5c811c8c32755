"""LSP base-protocol framing: `Content-Length` headers, a blank line, a JSON body.

pygls 2.1 reads frames with a regex that wants exactly `Content-Length: N\\r\\n` and then
`readexactly(N)` (`pygls.io_.run_async`). One malformed frame (a non-numeric length, bare-LF
headers, a body shorter than its length) leaves it reading body bytes as headers, or waiting
for bytes that never come, for the rest of the session; a huge length allocates it whole
(`Content-Length: 1000000000000` is a MemoryError that kills the server).

This reader resynchronises instead of exiting: a restarted server would lose what the session
holds (open documents, pending reviews, the experiments it watches), and a broken frame says
nothing about the next one. So:
- headers end at the first blank line; bare LF is accepted (unambiguous, and what hand-written
  clients send); names are case-insensitive; unknown headers are ignored;
- a bad header block (no or non-numeric `Content-Length`, an over-long line) is reported on
  stderr in one line and the bytes up to the next `Content-Length:` are dropped;
- a frame over `MAX_FRAME` is refused without being allocated: its bytes are skipped in chunks;
- a body is never trusted to be as long as it says: a header line (`Content-Length: N` and a
  line break) cannot occur inside valid JSON (a raw line break is not allowed in a JSON string,
  and `Content-Length` is no JSON token), so when one shows up in a body's bytes the frame is
  cut short there and reading goes on from that header: a short body followed by a good frame
  loses only itself, even when the client then waits for an answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# A hypotheses document, a notebook or a log the editor syncs can be tens of MB (VS Code stops
# syncing files to extensions at 50 MB); a frame larger than this is no document an editor sends.
MAX_FRAME = 64 * 1024 * 1024
# Far more than any real header block (two short lines); bounds what is kept while looking.
MAX_HEADER = 8 * 1024
CHUNK = 256 * 1024

HEADER_START = re.compile(rb"content-length:", re.IGNORECASE)
# a complete Content-Length line: what no valid JSON body can contain
HEADER_LINE = re.compile(rb"content-length:[ \t]*[0-9]+[ \t]*\r?\n", re.IGNORECASE)
# how far before a line break a Content-Length line may begin
LINE_WINDOW = 128
LENGTH = re.compile(rb"[ \t]*([0-9]+)[ \t]*")
BLANK = re.compile(rb"[\r\n \t]*")
BLOCK_END = re.compile(rb"\r?\n\r?\n")
TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True)
class Refused:
    """A frame the reader would not deliver: over `MAX_FRAME` (its body skipped)."""

    length: int


class FrameReader:
    """Frames from a byte stream. `read` returns up to a chunk of bytes, b"" at end of input."""

    def __init__(self, read: Callable[[], Awaitable[bytes]], max_frame: int = MAX_FRAME) -> None:
        self._read = read
        self._max_frame = max_frame
        self._buf = bytearray()
        self._eof = False
        self._rescan = False

    async def next(self) -> bytes | Refused | None:
        """The next frame's body (or a refused frame); None at the end of input."""
        if self._rescan:
            self._rescan = False
            await self._resync()
        while True:
            length = await self._headers()
            if length is None:
                return None
            if length > self._max_frame:
                log.warning("refused a message of %d bytes (over the %d MB limit); its bytes are skipped",
                            length, self._max_frame >> 20)
                if await self._skip(length):
                    return Refused(length)
                continue
            body = await self._body(length)
            if body is not None:
                return body
            if self._eof and not self._buf:
                return None

    def rescan(self, body: bytes) -> None:
        """The body last returned was no message: look for the next frame inside it. A body
        too long for its content may have swallowed the start of the next frame's header."""
        if body:  # an empty body swallowed nothing, and the buffer holds the next frame
            self._buf[:0] = body
            self._rescan = True

    async def _fill(self) -> bool:
        """Read one more chunk into the buffer; False at the end of input."""
        if self._eof:
            return False
        chunk = await self._read()
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    async def _headers(self) -> int | None:
        """Parse the header block at the buffer's start, resynchronising past bad ones; the
        body's length, or None at the end of input."""
        while True:
            end = await self._block_end()
            if end is None:
                return None
            length, problem = parse_headers(bytes(self._buf[:end]))
            if problem is None:
                del self._buf[:end]
                return length
            log.warning("dropped a malformed message header (%s); reading on from the next Content-Length", problem)
            await self._resync()

    async def _block_end(self) -> int | None:
        """Where the header block at the buffer's start ends (after its blank line)."""
        while True:
            # line breaks between frames are harmless: skipped without a word
            blank = BLANK.match(self._buf)  # `*`: it always matches, maybe empty
            del self._buf[:blank.end() if blank else 0]
            match = BLOCK_END.search(self._buf, 0, MAX_HEADER)
            if match:
                return match.end()
            if len(self._buf) >= MAX_HEADER:
                log.warning("dropped a message header of over %d bytes; reading on from the next Content-Length", MAX_HEADER)
                await self._resync()
            elif not await self._fill():
                if self._buf.strip():
                    log.warning("the input ended inside a message header")
                return None

    async def _resync(self) -> None:
        """Drop the byte at the buffer's start, then every byte until the next
        `Content-Length:` (or the end of input)."""
        del self._buf[:1]
        while not (match := HEADER_START.search(self._buf)):
            # a header may begin in the last bytes
            del self._buf[:max(len(self._buf) - len(HEADER_START.pattern) + 1, 0)]
            if not await self._fill():
                return
        del self._buf[:match.start()]

    async def _body(self, length: int) -> bytes | None:
        """The next `length` bytes, or None when a header shows up inside them (the frame was
        short: reading goes on from that header) or input ends first."""
        scanned = 0
        while True:
            match = header_line(self._buf, max(scanned - 1, 0), min(len(self._buf), length + LINE_WINDOW))
            if match is not None and match < length:
                log.warning("dropped a message whose body was shorter than its Content-Length (%d); "
                            "reading on from the next header", length)
                del self._buf[:match]
                return None
            if len(self._buf) >= length:
                with memoryview(self._buf) as view:
                    body = bytes(view[:length])
                del self._buf[:length]
                return body
            scanned = len(self._buf)
            if not await self._fill():
                log.warning("the input ended inside a message of %d bytes", length)
                self._buf.clear()
                return None

    async def _skip(self, length: int) -> bool:
        """Drop `length` bytes in chunks; False when a header inside them cut the frame short."""
        left = length
        while True:
            match = header_line(self._buf, 0, min(len(self._buf), left + LINE_WINDOW))
            if match is not None and match < left:
                del self._buf[:match]
                return False
            if len(self._buf) >= left:
                del self._buf[:left]
                return True
            # keep a tail in which a header line may be starting
            cut = max(len(self._buf) - LINE_WINDOW, 0)
            del self._buf[:cut]
            left -= cut
            if not await self._fill():
                self._buf.clear()
                return True


def header_line(buf: bytearray, start: int, end: int) -> int | None:
    """Where the first complete Content-Length line ending in `buf[start:end]` begins. Only a
    raw line break can end one, and compact JSON has none: `find` skips to each at memchr
    speed, and the pattern is tried on the few bytes before it."""
    while (newline := buf.find(b"\n", start, end)) != -1:
        for match in HEADER_LINE.finditer(buf, max(newline - LINE_WINDOW, 0), newline + 1):
            if match.end() == newline + 1:
                return match.start()
        start = newline + 1
    return None


def parse_headers(block: bytes) -> tuple[int, str | None]:
    """The Content-Length of a header block (ending in its blank line), or a problem."""
    length = None
    for line in block.splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            return 0, f"not a header: {_show(line)}"
        if name.lower() != b"content-length":
            continue
        match = LENGTH.fullmatch(value)
        if not match:
            return 0, f"Content-Length {_show(value.strip())} is not a number of bytes"
        if length is not None and int(match.group(1)) != length:
            return 0, "two different Content-Length headers"
        length = int(match.group(1))
    if length is None:
        return 0, "no Content-Length"
    return length, None


def _show(raw: bytes) -> str:
    return repr(raw[:40].decode("utf-8", errors="replace")) + ("..." if len(raw) > 40 else "")
