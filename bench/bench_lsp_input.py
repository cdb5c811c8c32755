"""How fast does the server answer under large or bad input? Run by hand, prints figures.

    python bench/bench_lsp_input.py [--mb 50] [--requests 2000]

Starts the real server (`python -m mlr_copilot.cli serve`) on stdio pipes and writes frames by
hand (tests/lsp/wire.py), then measures:
- a `--mb` MB `research/x/hypotheses.md` with ~9,000 markers per MB opened in the editor
  (didOpen): the time until a codeLens request sent right after it is answered, and a second
  codeLens on the open document;
- an 80 MB frame, over the 64 MB limit: the time until the request after it is answered;
- `--requests` small requests written at once (`mlrCopilot.status`): time per answer;
and the server's peak RSS (VmHWM) after each. Targets: the lenses answered within 2 s of the
didOpen and within 50 ms once open; the over-limit frame skipped at 50 MB/s or better; the
peak RSS under 10x the document's size (the JSON text, its string, the document) and never
near the 80 MB frame's size above the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.lsp.wire import frame, raw_server, request

STATUS = {"command": "mlrCopilot.status"}


def document(megabytes: int) -> str:
    one = "".join(f"<!-- mlr:hypothesis h{n} -->\n## {n}. An idea\n{'x' * 60}\n" for n in range(9_000))
    return one * megabytes


async def lenses(mb: int, root: Path) -> None:
    server = await raw_server(root)
    text = document(mb)
    uri = (root / "research" / "x" / "hypotheses.md").as_uri()
    before = server.peak_rss_mb()
    started = time.perf_counter()
    await server.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "markdown", "version": 1, "text": text}}})
    answer = await server.ask(1, "textDocument/codeLens", {"textDocument": {"uri": uri}}, timeout=120)
    first = time.perf_counter() - started
    started = time.perf_counter()
    await server.ask(2, "textDocument/codeLens", {"textDocument": {"uri": uri}}, timeout=120)
    again = time.perf_counter() - started
    peak = server.peak_rss_mb()
    await server.stop()
    print(f"{len(text) / 2**20:.0f} MB hypotheses.md, {text.count('mlr:hypothesis')} markers: "
          f"{len(answer.get('result') or [])} lenses; didOpen to lenses {first:.2f} s (target 2 s), "
          f"lenses again {again * 1000:.1f} ms (target 50 ms); peak RSS {peak:.0f} MB (baseline {before:.0f} MB)"
          f"  {'PASS' if first <= 2 and again <= 0.05 else 'FAIL'}")


async def over_limit(root: Path) -> None:
    server = await raw_server(root)
    before = server.peak_rss_mb()
    body = b'{"jsonrpc": "2.0", "method": "x", "params": "' + b"a" * (80 * 2**20) + b'"}'
    started = time.perf_counter()
    await server.write(frame(body))
    await server.ask(1, "workspace/executeCommand", STATUS, timeout=120)
    took = time.perf_counter() - started
    peak = server.peak_rss_mb()
    await server.stop()
    rate = 80 / took
    print(f"80 MB frame over the limit: skipped and the next request answered in {took:.2f} s ({rate:.0f} MB/s, "
          f"target 50); peak RSS {peak:.0f} MB (baseline {before:.0f} MB)  {'PASS' if rate >= 50 and peak - before < 40 else 'FAIL'}")


async def many(count: int, root: Path) -> None:
    server = await raw_server(root)
    data = b"".join(frame(request(n, "workspace/executeCommand", STATUS)) for n in range(1, count + 1))
    started = time.perf_counter()
    await server.write(data)
    await server.reply(count, timeout=300)
    took = time.perf_counter() - started
    await server.stop()
    print(f"{count} status requests written at once: {took * 1000 / count:.2f} ms per answer")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-lsp-input-"))
    (root / "research" / "x").mkdir(parents=True)
    print(f"work folder: {root}")
    await lenses(args.mb, root)
    await over_limit(root)
    await many(args.requests, root)


if __name__ == "__main__":
    asyncio.run(main())
