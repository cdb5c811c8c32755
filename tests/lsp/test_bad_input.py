"""The server under bad input, written byte by byte on its stdin: every malformed frame is
dropped and the next request answered, nothing is allocated for a frame over the limit, and
every request gets an answer."""

from __future__ import annotations

import json
import random

from .wire import frame, initialize, raw_server, request

STATUS = {"command": "mlrCopilot.status"}

MALFORMED = {
    "non-numeric length": b"Content-Length: abc\r\n\r\n{}",
    "zero length": b"Content-Length: 0\r\n\r\n",
    "method name of 1 MB": frame({"jsonrpc": "2.0", "id": 1002, "method": "x" * 2**20}),
    "negative length": b"Content-Length: -5\r\n\r\n{}",
    "no length": b"Content-Type: application/vscode-jsonrpc\r\n\r\n{}",
    "garbage before a header": b"hello\r\nContent-Length: 2\r\n\r\n{}",
    "body shorter than its length": b'Content-Length: 500\r\n\r\n{"jsonrpc": "2.0"}',
    "body just short of the next header": b'Content-Length: 30\r\n\r\n{"jsonrpc": "2.0"}Content-Le',
    "length of 1000000000000": b"Content-Length: 1000000000000\r\n\r\n{}",
    "length of 4 GB": b"Content-Length: 4294967296\r\n\r\n{}",
    "no blank line after the headers": b'Content-Length: 2\r\n{}',
    "header line of 20 kB": b"X-Long: " + b"x" * 20_000 + b"\r\n\r\n",
    "not JSON": frame(b"{not json"),
    "not UTF-8": frame(b'{"jsonrpc": "2.0", "method": "\xff\xfe"}'),
    "JSON nested 100000 deep": frame(b"[" * 100_000 + b"]" * 100_000),
    "a JSON string": frame(b'"hello"'),
    "a number with 5000 digits": frame(b"1" * 5000),
    "no jsonrpc version": frame({"id": 1000, "method": "shutdown"}),
    "id that is an object": frame({"jsonrpc": "2.0", "id": {"a": 1}, "method": "shutdown"}),
    "method that is a number": frame({"jsonrpc": "2.0", "id": 1001, "method": 5}),
    "unreadable reply": frame({"jsonrpc": "2.0", "id": "nobody-asked", "result": {"x": 1}, "error": 7}),
}


async def test_each_malformed_frame_is_dropped_and_the_next_request_answered(tmp_path):
    """Each bad frame twice: in one write with the good request after it, and alone, the good
    request written once the server has read it."""
    server = await raw_server(tmp_path)
    try:
        for n, (name, data) in enumerate(MALFORMED.items(), start=1):
            await server.write(data + frame(request(-n, "workspace/executeCommand", STATUS)))
            answer = await server.reply(-n)
            assert answer.get("result", {}).get("version"), f"after {name}, in one write: {answer}"
            await server.write(data)
            answer = await server.ask(n, "workspace/executeCommand", STATUS)
            assert answer.get("result", {}).get("version"), f"after {name}: {answer}"
    finally:
        stderr = await server.stop()
    assert "Traceback" not in stderr
    assert "Content-Length 'abc' is not a number of bytes" in stderr
    assert "shorter than its Content-Length" in stderr
    assert "refused a message of 1000000000000 bytes" in stderr


async def test_bare_lf_headers_are_read(tmp_path):
    server = await raw_server(tmp_path)
    try:
        await server.write(frame(request(1, "workspace/executeCommand", STATUS), newline=b"\n"))
        assert "result" in await server.reply(1)
    finally:
        await server.stop()


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One hostile change to a good frame: cut, a byte changed, bytes added, a new length."""
    kind = rng.randrange(5)
    where = rng.randrange(len(data))
    if kind == 0:
        return data[:where]
    if kind == 1:
        return data[:where] + bytes([rng.randrange(256)]) + data[where + 1:]
    if kind == 2:
        return data[:where] + rng.randbytes(rng.randrange(1, 64)) + data[where:]
    if kind == 3:
        length = rng.choice([0, 1, len(data) * 3, 2**31, 10**15, rng.randrange(100)])
        return f"Content-Length: {length}\r\n\r\n".encode() + data.split(b"\r\n\r\n", 1)[1]
    return data.replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\r\n", b""]), rng.randrange(1, 3))


async def test_fuzzed_frames_never_stop_the_server_answering(tmp_path):
    """300 seeded mutations of a good request, each followed by a good one: the good one is
    always answered, and the server lives on."""
    rng = random.Random(11)
    good = frame(request("fuzz", "workspace/executeCommand", {"command": "mlrCopilot.listRuns", "arguments": []}))
    server = await raw_server(tmp_path)
    answered = 0
    try:
        for n in range(300):
            probe = request(f"probe-{n}", "workspace/executeCommand", STATUS)
            bad = mutate(rng, good)
            if n % 2:  # alone, then the good request once the server has read it
                await server.write(bad)
                await server.send(probe)
            else:
                await server.write(bad + frame(probe))
            answer = await server.reply(f"probe-{n}")
            assert "result" in answer, (bad, answer)
            answered += 1
    finally:
        stderr = await server.stop()
    assert answered == 300
    assert "Traceback" not in stderr


async def test_a_frame_over_the_limit_is_skipped_without_being_held(tmp_path):
    server = await raw_server(tmp_path)
    try:
        before = server.peak_rss_mb()
        body = b'{"jsonrpc": "2.0", "method": "x", "params": "' + b"a" * (80 * 2**20) + b'"}'
        await server.write(frame(body))
        answer = await server.ask(1, "workspace/executeCommand", STATUS)
        assert "result" in answer
        refusal = next(m for m in server.seen if m.get("id") is None and "error" in m)
        assert refusal["error"]["code"] == -32600 and "over the server's limit" in refusal["error"]["message"]
        # the 80 MB went through in chunks: nowhere near its size was ever held
        assert server.peak_rss_mb() - before < 40
    finally:
        await server.stop()


async def test_params_that_do_not_parse_get_invalid_params_with_a_readable_message(tmp_path):
    server = await raw_server(tmp_path)
    try:
        answer = await server.ask(1, "textDocument/codeLens", {"textDocument": 5})
        assert answer["error"]["code"] == -32602
        assert "textDocument/codeLens: params.textDocument" in answer["error"]["message"]
        # a URI that names no file is no hypotheses document
        assert (await server.ask(4, "textDocument/codeLens", {"textDocument": {"uri": "untitled:1"}}))["result"] == []
        answer = await server.ask(2, "textDocument/codeLens", {})
        assert "params.textDocument is missing" in answer["error"]["message"]
        answer = await server.ask(3, "textDocument/hover", {"textDocument": {"uri": "file:///x"},
                                                            "position": {"line": "one", "character": 0}})
        assert "params.position.line must be an integer" in answer["error"]["message"]
        assert "cattrs" not in answer["error"]["message"] and "@ $" not in answer["error"]["message"]
    finally:
        await server.stop()


async def test_command_arguments_of_the_wrong_type_are_invalid_params(tmp_path):
    server = await raw_server(tmp_path)
    cases = {
        ("mlrCopilot.history", json.dumps([{"branch": 5}])): "mlrCopilot.history: branch must be a string",
        ("mlrCopilot.history", json.dumps([5])): "mlrCopilot.history: the history options must be an object or a string",
        ("mlrCopilot.run", json.dumps([{"timeout": "soon"}])): "mlrCopilot.run: timeout must be a number",
        ("mlrCopilot.run", json.dumps([{"timeout": True}])): "mlrCopilot.run: timeout must be a number",
        ("mlrCopilot.run", json.dumps([{"command": {"x": 1}}])): "mlrCopilot.run: command must be a string or a list of strings",
        ("mlrCopilot.run", json.dumps([{"command": ["python", 3]}])): "command must be a string or a list of strings",
        ("mlrCopilot.run", json.dumps([{"timeout": -5}])): "mlrCopilot.run: timeout: input should be greater than 0",
        ("mlrCopilot.acceptHypothesis", json.dumps([["h1"]])): "the hypothesis id must be a string",
        ("mlrCopilot.dismiss", json.dumps(["file:///x", "diag"])): "mlrCopilot.dismiss: the diagnostic must be an object",
    }
    try:
        for n, ((name, arguments), expected) in enumerate(cases.items(), start=1):
            answer = await server.ask(n, "workspace/executeCommand", {"command": name, "arguments": json.loads(arguments)})
            assert answer["error"]["code"] == -32602, answer
            assert expected in answer["error"]["message"]
            assert "Traceback" not in json.dumps(answer) and "pydantic" not in json.dumps(answer)
    finally:
        await server.stop()


async def test_a_batch_gets_invalid_request_for_each_of_its_requests(tmp_path):
    server = await raw_server(tmp_path)
    try:
        await server.send([request(1, "workspace/executeCommand", STATUS), request(2, "shutdown"),
                           {"jsonrpc": "2.0", "method": "initialized", "params": {}}])
        for msg_id in (1, 2):
            answer = await server.reply(msg_id)
            assert answer["error"]["code"] == -32600 and "batches" in answer["error"]["message"]
        await server.send([])
        empty = await server.read()
        assert empty["id"] is None and empty["error"]["code"] == -32600
        # neither the batch's shutdown nor anything else ran
        assert "result" in await server.ask(3, "workspace/executeCommand", STATUS)
    finally:
        await server.stop()


async def test_a_request_before_initialize_is_refused_at_once(tmp_path):
    server = await raw_server()
    try:
        await server.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {}})  # dropped
        answer = await server.ask(1, "workspace/executeCommand", STATUS)
        assert answer["error"]["code"] == -32002
        assert "result" in await server.ask(2, "initialize", initialize(2, tmp_path)["params"])
        again = await server.ask(3, "initialize", initialize(3, tmp_path)["params"])
        assert again["error"]["code"] == -32600 and "already initialized" in again["error"]["message"]
    finally:
        await server.stop()


async def test_a_request_after_shutdown_is_invalid_request(tmp_path):
    server = await raw_server(tmp_path)
    try:
        assert "result" in await server.ask(1, "shutdown")
        answer = await server.ask(2, "workspace/executeCommand", STATUS)
        assert answer["error"]["code"] == -32600 and "shutting down" in answer["error"]["message"]
        await server.send({"jsonrpc": "2.0", "method": "exit"})
        assert await server.process.wait() == 0
    finally:
        await server.stop()


async def test_shutdown_answers_and_cancels_commands_still_waiting(tmp_path):
    """pygls cancels pending requests while iterating the dict their callbacks remove them
    from; a command waiting for `initialized` made shutdown fail and the exit code 1."""
    server = await raw_server()
    try:
        assert "result" in await server.ask(1, "initialize", initialize(1, tmp_path)["params"])
        await server.send(request(2, "workspace/executeCommand", STATUS))  # waits for `initialized`
        shutdown = await server.ask(3, "shutdown")
        assert "result" in shutdown, shutdown
        [cancelled] = [m for m in server.seen if m.get("id") == 2]
        assert cancelled["error"]["code"] == -32800
        await server.send({"jsonrpc": "2.0", "method": "exit"})
        assert await server.process.wait() == 0
    finally:
        stderr = await server.stop()
    assert "RuntimeError" not in stderr
