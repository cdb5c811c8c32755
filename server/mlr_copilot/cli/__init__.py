"""`mlr-copilot`: the terminal face of the engine. Each subcommand is a few lines over one
engine call, declared with its flags in the module of its group (`machine`, `ideas`,
`experiment`, `auto`, `history`, `queue`). The engine and its packages are imported inside the
subcommands, so `--help` and the light commands pay only for what they use
(tests/cli/test_startup_imports.py, bench/bench_startup.py)."""

from __future__ import annotations

import sys

from ..errors import MlrError
from ..untrusted import one_line
from . import auto, experiment, history, ideas, machine, queue, search
from .output import say
from .parser import Handler, build_parser
from .session import Interrupted, cancelled_exit

# the command groups, in the order `--help` lists their commands
GROUPS = (machine.declare, ideas.declare, experiment.declare, auto.declare, search.declare, history.declare,
          queue.declare)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(GROUPS, argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from .logs import configure_logging  # logging (traceback): not on the path of `--help`

    configure_logging(getattr(args, "verbose", False))
    run: Handler = args.handler
    try:
        return run(args)
    except MlrError as exc:
        # one line, whatever the message quotes (an edit's closest lines, a reply)
        say(f"mlr-copilot {args.command}: {one_line(exc)}", err=True)
        return 2
    except BrokenPipeError:
        return 0
    except Interrupted as exc:
        print(f"mlr-copilot {args.command}: interrupted", file=sys.stderr)
        return cancelled_exit(exc.signum)
    except KeyboardInterrupt:
        print(f"mlr-copilot {args.command}: interrupted", file=sys.stderr)
        return 130
