"""A raw LSP peer for tests that must write bytes a real client never would: the real server
as a subprocess on stdio pipes, frames written by hand, replies read back frame by frame."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from .conftest import SERVER_ENV


def frame(message, *, newline: bytes = b"\r\n") -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: " + str(len(body)).encode() + newline + newline + body


async def read_message(reader: asyncio.StreamReader) -> dict:
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length is None:
        raise EOFError("the server closed its end")
    return json.loads(await reader.readexactly(length))


def request(msg_id, method: str, params=None) -> dict:
    message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize(msg_id, root: Path) -> dict:
    return request(msg_id, "initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {}})


class RawServer:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.seen: list[dict] = []

    @classmethod
    async def start(cls) -> RawServer:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mlr_copilot.cli", "serve", env=SERVER_ENV, limit=2**20,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(process)

    async def write(self, data: bytes) -> None:
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def send(self, message) -> None:
        await self.write(frame(message))

    async def read(self, timeout: float = 20.0) -> dict:
        """The next message the server writes (any kind)."""
        return await asyncio.wait_for(read_message(self.process.stdout), timeout)

    async def reply(self, msg_id, timeout: float = 20.0) -> dict:
        """The response to request `msg_id`, skipping notifications and server requests;
        those are kept in `seen`."""
        while True:
            message = await self.read(timeout)
            if "method" not in message and message.get("id") == msg_id:
                return message
            self.seen.append(message)

    async def ask(self, msg_id, method: str, params=None, timeout: float = 20.0) -> dict:
        await self.send(request(msg_id, method, params))
        return await self.reply(msg_id, timeout)

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024

    async def stop(self) -> str:
        """End the server; its stderr."""
        if self.process.returncode is None:
            self.process.kill()
        _out, err = await self.process.communicate()
        return err.decode(errors="replace")


async def raw_server(root: Path | None = None) -> RawServer:
    """A started server, initialized against `root` when given."""
    server = await RawServer.start()
    if root is not None:
        answer = await server.ask(0, "initialize", initialize(0, root)["params"])
        assert "result" in answer, answer
        await server.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    return server
