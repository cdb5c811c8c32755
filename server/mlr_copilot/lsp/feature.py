"""What an editor feature is (esbonio's habit): one class whose state is its typed attributes,
whose commands are its methods marked `@command`, and whose other LSP handlers it registers in
`setup`. A feature that uses another's service takes it in its constructor, so the dependency
is visible where the features are built (`features.py`).

Events more than one feature may want (`textDocument/didChange`, `textDocument/codeAction`)
are registered once by the server, which calls every feature's `document_changed` and
`code_actions`; a feature overrides those it cares about."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from lsprotocol import types

if TYPE_CHECKING:
    from .server import MlrServer

CommandHandler = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=CommandHandler)
_SPEC = "_mlr_command"


@dataclass(frozen=True)
class CommandSpec:
    """`name` as the client sends it in `workspace/executeCommand`; `title` for messages."""

    name: str
    title: str


def command(name: str, title: str) -> Callable[[H], H]:
    """Mark a feature's method as the handler of command `name`; it receives the command's
    arguments as positional parameters."""

    def mark(handler: H) -> H:
        setattr(handler, _SPEC, CommandSpec(name, title))
        return handler

    return mark


class Feature:
    # the code action kinds this feature offers (the server advertises the union)
    code_action_kinds: ClassVar[tuple[types.CodeActionKind, ...]] = ()

    def __init__(self, server: MlrServer) -> None:
        self.server = server

    def setup(self) -> None:
        """Register the LSP handlers other than commands and shared events; none by default."""

    async def ready(self) -> None:
        """The client is initialized and the settings are read: start what runs in the
        background (`MlrServer.in_background`); nothing by default."""

    def commands(self) -> list[tuple[CommandSpec, CommandHandler]]:
        """The commands this feature's methods handle."""
        found = []
        for attribute in dir(type(self)):
            spec = getattr(getattr(type(self), attribute), _SPEC, None)
            if isinstance(spec, CommandSpec):
                found.append((spec, getattr(self, attribute)))
        return found

    def document_changed(self, params: types.DidChangeTextDocumentParams) -> None:
        """An open document changed in the editor."""

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        """Code actions for the range and diagnostics in `params`."""
        return []
