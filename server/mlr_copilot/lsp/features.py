"""Every feature module of the server, each registering itself through `setup(server)`."""

from __future__ import annotations


def setup(server) -> None:
    from . import status

    for module in (status,):
        module.setup(server)
