"""`mlr-copilot serve --tcp HOST:PORT` speaks LSP over a socket on loopback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

from .wire import frame, read_message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_serve_over_tcp(tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlr_copilot.cli", "serve", "--tcp", f"127.0.0.1:{port}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        writer.write(b"Content-Length: abc\r\n\r\n{}")  # dropped: the next frame is read all the same
        writer.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                            "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}}}))
        await writer.drain()
        reply = await asyncio.wait_for(read_message(reader), 20)
        assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"] == "mlr-copilot"
        assert "mlrCopilot.status" in reply["result"]["capabilities"]["executeCommandProvider"]["commands"]
        writer.close()
    finally:
        server.kill()
        server.wait()
    assert server.stdout.read() == b""  # nothing on stdout: the protocol is on the socket
