"""Every message gets its answer, whatever arrives.

pygls 2.1 (`JsonRPCProtocol`, `pygls.io_.run_async`) drops what it cannot structure with a
logged traceback and no response: a request whose params fail to parse, a JSON-RPC batch, a
body that is no JSON object. It runs requests that arrive before `initialize` (an
`executeCommand` then waits for settings that never come) and drops those after `shutdown`
without a word. Here, per the LSP and JSON-RPC specifications:
- no JSON: -32700, with a null id (there is no id to read);
- a batch (LSP has none) or a message that is no request: -32600, per request of a batch;
- params that do not fit the method: -32602 naming the field in the protocol's own spelling;
- a request before `initialize`: -32002 at once; notifications then are dropped (but `exit`);
- `initialize` twice, or a request after `shutdown`: -32600.
Each problem is one warning line on stderr.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import re
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import unquote

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
)
from pygls.protocol.language_server import lsp_method

if TYPE_CHECKING:
    from concurrent.futures import Future

    from .server import MlrServer

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002
# Above this a body is decoded and structured on a worker thread, so a large document does
# not stall the event loop.
DECODE_IN_THREAD = 1024 * 1024
# pygls applies an incremental change by walking every line of the document in Python (about
# 1 s per change on 32 MB): past this many characters times changes in one didChange, the
# document's unsaved text is no longer followed (about 0.25 s of work). A document opened
# larger than this is not kept at all: the server needs the unsaved text of hypotheses
# documents and of files under review, a few KB each, not that of a large data file.
MAX_CHANGE_WORK = MAX_DOCUMENT = 8 * 1024 * 1024
# LSP method names are a few dozen characters; this bounds what a log line or error echoes.
MAX_METHOD = 200
# Answers to one batch: a 64 MB batch must not become a million responses.
MAX_BATCH_ANSWERS = 100

KINDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
         dict: "an object", list: "a list", list[str]: "a list of strings"}


class MlrProtocol(LanguageServerProtocol):
    _server: MlrServer

    def __init__(self, server: MlrServer, converter: cattrs.Converter) -> None:
        super().__init__(server, converter)
        self.initialize_received = False

    async def receive(self, body: bytes) -> bool:
        """Answer one frame's body; False when it is no JSON (the caller looks for a frame
        inside it)."""
        big = len(body) > DECODE_IN_THREAD
        try:
            data = await asyncio.to_thread(decode, body) if big else decode(body)
        except (ValueError, RecursionError) as exc:
            log.warning("dropped a message that is not JSON (%s)", str(exc)[:120])
            self.send_error(None, PARSE_ERROR, "Parse error: the message is not JSON")
            return False
        try:
            await self.dispatch(data, big)
        except Exception as exc:  # one bad message must not end the session
            log.warning("could not handle a message: %s: %s", type(exc).__name__, str(exc)[:200])
        return True

    def refuse(self, length: int) -> None:
        self.send_error(None, INVALID_REQUEST, f"Invalid Request: a message of {length} bytes is over the server's limit")

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        # built by hand: lsprotocol's ResponseErrorMessage leaves out a null id
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    async def dispatch(self, data: Any, big: bool = False) -> None:
        """Check and answer one decoded message; a `big` one is structured on a worker thread
        (messages stay in order: the next is read only after this one is handed over)."""
        if isinstance(data, list):
            return self._refuse_batch(data)
        if not isinstance(data, dict):
            log.warning("dropped a message that is not a JSON object")
            return self.send_error(None, INVALID_REQUEST, "Invalid Request: a message is a JSON object")
        if "method" not in data:
            return self._receive_response(data)
        is_request = "id" in data
        problem = envelope_problem(data) or self._gate(data["method"], is_request)
        if problem:
            code, text = problem
            log.warning("dropped %s %r: %s", "request" if is_request else "notification", str(data["method"])[:MAX_METHOD], text)
            if is_request:
                self.send_error(data["id"] if valid_id(data["id"]) else None, code, text)
            return
        try:
            message = await asyncio.to_thread(self.structure_message, data) if big else self.structure_message(data)
        except Exception as exc:
            text = f"{data['method']}: {readable(exc)}"
            log.warning("invalid params: %s", text)
            if is_request:
                self.send_error(data["id"], INVALID_PARAMS, f"Invalid params: {text}")
            return
        if data["method"] == types.INITIALIZE:
            self.initialize_received = True
        self.handle_message(message)

    def _gate(self, method: str, is_request: bool) -> tuple[int, str] | None:
        """Why a message may not be handled now, per the LSP's lifecycle."""
        if method == types.EXIT:
            return None
        if not self.initialize_received and method != types.INITIALIZE:
            return SERVER_NOT_INITIALIZED, "the server is not initialized: send initialize first"
        if self.initialize_received and method == types.INITIALIZE:
            return INVALID_REQUEST, "Invalid Request: the server is already initialized"
        if self._shutdown:
            return INVALID_REQUEST, "Invalid Request: the server is shutting down"
        return None

    def _refuse_batch(self, batch: list[Any]) -> None:
        log.warning("dropped a JSON-RPC batch of %d messages (LSP has no batches)", len(batch))
        text = "Invalid Request: LSP does not support JSON-RPC batches; send each message in its own frame"
        ids = [m["id"] for m in batch if isinstance(m, dict) and "method" in m and valid_id(m.get("id"))]
        for msg_id in ids[:MAX_BATCH_ANSWERS] or [None]:
            self.send_error(msg_id, INVALID_REQUEST, text)

    def _receive_response(self, data: dict[str, Any]) -> None:
        """A reply to one of the server's requests; one that cannot be read fails its request."""
        try:
            self.handle_message(self.structure_message(data))
        except Exception as exc:
            text = f"the client's reply could not be read: {readable(exc)}"
            log.warning("%s", text)
            msg_id = data.get("id")
            future = self._request_futures.pop(msg_id, None) if valid_id(msg_id) else None
            if future is not None and not future.done():
                future.set_exception(JsonRpcException(code=INVALID_PARAMS, message=text))

    def _send_handler_result(self, future: Future[Any], *, msg_id: str | int) -> None:
        """pygls logs a full traceback for every JSON-RPC error a handler raises on purpose (an
        unknown command, a command's clear failure, bad arguments): one line says it."""
        error = None if future.cancelled() else future.exception()
        if not isinstance(error, JsonRpcException):
            super()._send_handler_result(future, msg_id=msg_id)
            return
        self._request_futures.pop(msg_id, None)
        log.info("request %s answered with error %s: %s", msg_id, error.code, error.message)
        self._send_response(msg_id, error=error.to_response_error())

    def structure_message(self, data: dict[str, Any]) -> Any:
        """The typed message; raises what cattrs raises. (pygls's own logs a traceback for
        every failure, and is applied to every nested object carrying a "jsonrpc" key.)"""
        if "method" in data:
            fallback = JsonRPCRequestMessage if "id" in data else JsonRPCNotification
            kind = self.get_message_type(data["method"]) or fallback
            if kind is fallback:
                data = {"params": None, **data}
        elif "error" in data:
            kind = types.ResponseErrorMessage
        else:
            msg_id = data.get("id")
            kind = (self._result_types.pop(msg_id, None) if valid_id(msg_id) else None) or JsonRPCResponseMessage
        return self._converter.structure(data, kind)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        """Keep the document unless it is over MAX_DOCUMENT: then it is read from disk."""
        yield from super().lsp_text_document__did_open(params)
        if len(params.text_document.text) > MAX_DOCUMENT:
            self.workspace.remove_text_document(params.text_document.uri)
            log.info("%s is over %d MB: read from disk, its unsaved changes not followed",
                     params.text_document.uri[:MAX_METHOD], MAX_DOCUMENT >> 20)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        """Follow a document's edits while that is cheap; past MAX_CHANGE_WORK drop it, so the
        server reads the file from disk as for a document never opened (until it is reopened)."""
        uri = params.text_document.uri
        document = self.workspace.text_documents.get(unquote(uri))  # pygls keys them unquoted
        if document is not None:
            ranged = sum(1 for c in params.content_changes if isinstance(c, types.TextDocumentContentChangePartial))
            if ranged * len(document.source) > MAX_CHANGE_WORK:
                self.workspace.remove_text_document(uri)
                self._server.warn(
                    f"{unquote(uri).rsplit('/', 1)[-1][:MAX_METHOD]} is too large to follow edit by edit ({len(document.source) >> 20} MB, "
                    f"{ranged} changes): its saved content is used until it is reopened")
                document = None
        if document is not None:
            yield from super().lsp_text_document__did_change(params)
        elif (user_handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield user_handler, (params,), None

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        """pygls cancels the other requests while iterating the dict their callbacks remove
        them from (a RuntimeError for thread and generator handlers): iterate a copy."""
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current_id = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current_id and not future.done():
                future.cancel()
        self._shutdown = True
        return None


def decode(body: bytes) -> Any:
    # UTF-8 only (the LSP's one encoding); json.loads on bytes would also guess UTF-16 and 32
    return json.loads(body.decode("utf-8"))


def valid_id(msg_id: Any) -> TypeGuard[str | int]:
    return isinstance(msg_id, str) or (isinstance(msg_id, int) and not isinstance(msg_id, bool))


def envelope_problem(data: dict[str, Any]) -> tuple[int, str] | None:
    if data.get("jsonrpc") != "2.0":
        return INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"'
    if "id" in data and not valid_id(data["id"]):
        return INVALID_REQUEST, 'Invalid Request: "id" must be an integer or a string'
    if not isinstance(data["method"], str) or len(data["method"]) > MAX_METHOD:
        return INVALID_REQUEST, f'Invalid Request: "method" must be a string of at most {MAX_METHOD} characters'
    return None


def readable(exc: Exception) -> str:
    """What is wrong with a message, field by field, in the protocol's camelCase names."""
    if not isinstance(exc, cattrs.BaseValidationError):
        return f"the params do not fit ({type(exc).__name__}: {str(exc)[:120]})"
    problems = []
    for line in cattrs.transform_error(exc, path="", format_exception=_describe)[:3]:
        what, _, where = line.rpartition(" @ ")
        path = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), where.lstrip("."))
        problems.append(f"{path or 'the message'} {what}")
    return "; ".join(problems) or "the params do not fit the method"


def _describe(exc: BaseException, kind: Any) -> str:
    if isinstance(exc, KeyError):
        return "is missing"
    if kind in KINDS:
        return f"must be {KINDS[kind]}"
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "must be one of " + ", ".join(repr(m.value) for m in list(kind)[:8])
    return "is not valid"
