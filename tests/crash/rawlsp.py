"""The language server as a bare subprocess with a minimal JSON-RPC client, so a test can kill
it with SIGKILL mid-command (pytest-lsp owns the process it starts and ends it cleanly)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from .probe import ENV


class RawServer:
    def __init__(self, workspace: Path, settings: dict):
        self.proc = subprocess.Popen([sys.executable, "-m", "mlr_copilot.cli", "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV, cwd=workspace)
        self.messages: list[dict] = []
        self._next = 0
        threading.Thread(target=self._read, daemon=True).start()
        uri = workspace.as_uri()
        self.request("initialize", {"processId": None, "rootUri": uri, "capabilities": {},
                                    "workspaceFolders": [{"uri": uri, "name": workspace.name}],
                                    "initializationOptions": {"settings": settings}}, wait=True)
        self.notify("initialized", {})

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif line in (b"\r\n", b"\n"):
                    break
            self.messages.append(json.loads(stream.read(length)))

    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params, *, wait: bool = False, timeout: float = 30.0):
        self._next += 1
        number = self._next
        self._send({"id": number, "method": method, "params": params})
        if not wait:
            return number
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = next((m for m in self.messages if m.get("id") == number and "method" not in m), None)
            if answer is not None:
                return answer
            time.sleep(0.01)
        raise AssertionError(f"no answer to {method} within {timeout} s")

    def command(self, name: str, *arguments, wait: bool = False, timeout: float = 60.0):
        return self.request("workspace/executeCommand", {"command": name, "arguments": list(arguments)},
                            wait=wait, timeout=timeout)

    def shown(self) -> list[str]:
        return [m["params"]["message"] for m in self.messages if m.get("method") == "window/showMessage"]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.request("shutdown", None, wait=True, timeout=10)
            self.notify("exit", None)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
