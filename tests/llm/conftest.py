"""Canned HTTP for the real openai and anthropic SDK clients: no network, real request building."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

try:  # the SDKs moved from httpx to httpx2; use whichever their clients accept
    import httpx2 as http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as http

OPENAI_KEY = "sk-test-5f3a9c0d2e7b41a8c6d0"
ANTHROPIC_KEY = "sk-ant-test-7e1b2c3d4f5a6b7c8d9e"


def openai_body(content: str | None, *, model: str = "gpt-4o-mini-2024-07-18", usage: tuple[int, int] | None = (12, 5), finish: str = "stop",
                cached: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-9abc",
        "object": "chat.completion",
        "created": 1718000000,
        "model": model,
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
    }
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
        if cached is not None:
            body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    return body


def anthropic_body(text: str, *, model: str = "claude-3-5-sonnet-20241022", usage: tuple[int, int] = (20, 7), stop: str = "end_turn",
                   cache: tuple[int, int] | None = None) -> dict[str, Any]:
    """A reply; `cache`: the (read, written) prompt tokens of the prefix cache, beside `usage`'s input."""
    cached = {} if cache is None else {"cache_read_input_tokens": cache[0], "cache_creation_input_tokens": cache[1]}
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1], **cached},
    }


def openai_error(status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def anthropic_error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


class CannedServer:
    """Answers each request with the next queued reply and keeps every request for asserts."""

    def __init__(self) -> None:
        self.replies: list[Any] = []
        self.requests: list[Any] = []

    def reply(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> CannedServer:
        self.replies.append(http.Response(status, json=body, headers=headers or {}))
        return self

    def fail(self, exc: Exception) -> CannedServer:
        self.replies.append(exc)
        return self

    def handler(self, request: Any) -> Any:
        self.requests.append(request)
        assert self.replies, f"unexpected request to {request.url}"
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def client(self) -> Any:
        return http.AsyncClient(transport=http.MockTransport(self.handler))

    def body(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].content)


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def server() -> CannedServer:
    return CannedServer()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CLAUDE_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class Stub(BaseHTTPRequestHandler):
    """A real HTTP server's answers: 404 for every completion; for GET .../models, `models` with
    HTTP `models_status` (an error body unless 200; HTTP 500 when `models` is None)."""

    models: ClassVar[list[str] | None] = []
    models_status: ClassVar[int] = 200
    seen: ClassVar[list[str]] = []

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        status = 500 if self.models is None else self.models_status
        if status != 200:
            self._answer(status, {"error": {"message": "down", "type": "server_error"}})
        else:
            self._answer(200, {"object": "list", "data": [{"id": m, "object": "model", "type": "model",
                                                           "created": 0, "created_at": "2026-01-01T00:00:00Z",
                                                           "display_name": m, "owned_by": "x"} for m in self.models or []],
                               "has_more": False, "first_id": None, "last_id": None})

    def do_POST(self) -> None:
        self.seen.append(f"POST {self.path}")
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.endswith("/messages"):
            self._answer(404, {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-3-5-sonnet-latest"}})
        else:
            self._answer(404, {"error": {"message": "The model `gpt-4o-mini` does not exist", "type": "invalid_request_error",
                                         "code": "model_not_found"}})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.seen, Stub.models, Stub.models_status = [], [], 200
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
