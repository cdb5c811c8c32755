"""`serve`, `doctor`, `status`: the language server, and what the engine finds of this machine."""

from __future__ import annotations

import argparse

from .output import console, shown
from .parser import Commands
from .session import engine_for


def cmd_serve(args: argparse.Namespace) -> int:
    from ..lsp.server import create_server  # pygls and the LSP layer only for the server

    server = create_server()
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            raise SystemExit(f"mlr-copilot serve: --tcp wants HOST:PORT, got {args.tcp!r}")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import json  # only when printing JSON: not on the path of `--help`

    rows = engine_for(args).doctor()
    if args.json:
        print(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return 0
    out = console()
    for row in rows:
        mark = shown("ok", "green") if row.ok else shown("!!", "yellow")
        out.print(mark + shown(f"  {row.check:<16} {row.finding}"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import json  # only when printing JSON: not on the path of `--help`

    from ..plain import jsonable

    print(json.dumps(jsonable(engine_for(args, lazy=True).status()), indent=2))
    return 0


def declare(commands: Commands) -> None:
    p = commands.add("serve", cmd_serve, "run the language server (stdio, or --tcp HOST:PORT)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    p = commands.add("doctor", cmd_doctor, "check this machine, the LLM configuration and the workspace")
    p.add_argument("--json", action="store_true")
    commands.add("status", cmd_status, "print the engine's state as JSON")
