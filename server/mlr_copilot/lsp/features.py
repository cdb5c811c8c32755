"""Every feature module of the server, each registering itself through `setup(server)`."""

from __future__ import annotations


def setup(server) -> None:
    from . import ideas, status

    for module in (status, ideas):
        module.setup(server)
