"""Every feature module of the server, each registering itself through `setup(server)`."""

from __future__ import annotations


def setup(server) -> None:
    from . import ideas, implement, paper, run, status

    for module in (status, paper, ideas, implement, run):
        module.setup(server)
