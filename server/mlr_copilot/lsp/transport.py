"""Where the server's bytes come from: stdin or one TCP connection, read in chunks, cut into
frames by `framing.FrameReader` and answered by `protocol.MlrProtocol`, one message at a time
and in order. This replaces pygls's `start_io`/`start_tcp` loops (see framing.py for why)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, BinaryIO

from pygls.io_ import StdoutWriter

from .framing import CHUNK, FrameReader, Refused
from .protocol import MlrProtocol

if TYPE_CHECKING:
    from .server import MlrServer

log = logging.getLogger(__name__)

AHEAD = 8


async def serve(read: Callable[[], Awaitable[bytes]], protocol: MlrProtocol, stop: threading.Event) -> None:
    frames = FrameReader(read)
    while not stop.is_set():
        body = await frames.next()
        if body is None:
            break
        if isinstance(body, Refused):
            protocol.refuse(body.length)
        elif not await protocol.receive(body):
            frames.rescan(body)


def stdin_reader(stdin: BinaryIO) -> Callable[[], Awaitable[bytes]]:
    """Chunks of stdin, read on a daemon thread (a read blocked on a silent client must not
    keep the process alive after `exit`). The thread reads at most `AHEAD` chunks before the
    server takes them, so a client writing faster than the server reads waits instead of
    filling memory."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    room = threading.Semaphore(AHEAD)
    # The file descriptor, not the buffered stream: a daemon thread blocked inside the stream
    # holds its lock, and the interpreter aborts when it closes stdin at exit.
    fd = stdin.fileno()

    def pump() -> None:
        chunk = b"-"
        while chunk:
            room.acquire()
            try:
                chunk = os.read(fd, CHUNK)
            except OSError:
                chunk = b""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except RuntimeError:  # the loop is closed: the server is stopping
                return

    async def read() -> bytes:
        chunk = await queue.get()
        room.release()
        return chunk

    threading.Thread(target=pump, name="mlr-stdin", daemon=True).start()
    return read


def start_io(server: MlrServer, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    server._stop_event = stop = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

    async def main() -> None:
        await serve(stdin_reader(stdin or sys.stdin.buffer), server.protocol, stop)

    try:
        asyncio.run(main())
    except BrokenPipeError:
        log.error("the client closed the connection; stopping")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it unannotated


def start_tcp(server: MlrServer, host: str, port: int) -> None:
    server._stop_event = stop = threading.Event()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.protocol.set_writer(writer)
        await serve(lambda: reader.read(CHUNK), server.protocol, stop)
        server.shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it unannotated

    async def listen() -> None:
        server._server = await asyncio.start_server(connection, host, port)
        log.info("serving on %s", ", ".join(str(s.getsockname()) for s in server._server.sockets))
        async with server._server:
            await server._server.serve_forever()

    try:
        asyncio.run(listen())
    except asyncio.CancelledError:
        pass
