"""Every feature module of the server, each registering itself through `setup(server)`."""

from __future__ import annotations


def setup(server) -> None:
    from . import ideas, implement, run, status

    for module in (status, ideas, implement, run):
        module.setup(server)
