"""The language server: a thin face over the engine. Each editor feature is an object under
`lsp/` (see `feature.py`), built and added in `features.py`; the server registers its commands
and calls it for the events it shares with other features."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol import types
from pydantic import ValidationError
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import SERVER_NAME, __version__
from ..engine import Engine
from ..errors import MlrError
from . import features, lifecycle, transport
from .arguments import InvalidArguments, readable_validation
from .feature import CommandHandler, CommandSpec, Feature
from .jobs import JobRunner
from .lifecycle import CONFIG_SECTION
from .protocol import INVALID_PARAMS, MlrProtocol

if TYPE_CHECKING:
    from pygls.server import ServerErrors

log = logging.getLogger(__name__)


class MlrServer(LanguageServer):
    protocol: MlrProtocol

    def __init__(self) -> None:
        super().__init__(SERVER_NAME, __version__, protocol_cls=MlrProtocol)
        self.jobs = JobRunner()
        self._engine: Engine | None = None
        self.init_settings: Any = None
        self.init_options: dict[str, Any] = {}
        self.pushed_settings: dict[str, Any] | None = None
        # set once `initialized` has read the settings: commands wait for it
        self.ready = asyncio.Event()
        self.features: list[Feature] = []
        # failures of features' set-up, shown once the client can be told (after `initialized`)
        self.setup_failures: list[str] = []
        self._reporting_error = False
        # the features' background work, cancelled at shutdown (a reference keeps each task alive)
        self.background: set[asyncio.Task[None]] = set()

    def report_server_error(self, error: Exception, source: ServerErrors) -> None:
        """pygls shows an error it could not send as a message, which it cannot send either
        when the client is gone: one attempt, never a report of the report (that recursion
        spun the CPU of a server whose client had closed the pipe)."""
        if self._reporting_error:
            log.warning("could not tell the client about an error: %s", error)
            return
        self._reporting_error = True
        try:
            super().report_server_error(error, source)
        finally:
            self._reporting_error = False

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        transport.start_io(self, stdin, stdout)

    def start_tcp(self, host: str, port: int) -> None:
        transport.start_tcp(self, host, port)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise MlrError("the server has no workspace yet: open a folder first")
        return self._engine

    def workspace_root(self) -> Path:
        folders = self.workspace.folders
        if folders:
            return Path(to_fs_path(next(iter(folders.values())).uri) or Path.cwd())
        if self.workspace.root_uri:
            return Path(to_fs_path(self.workspace.root_uri) or Path.cwd())
        return Path.cwd()

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def stop_background(self) -> None:
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)

    def warn(self, message: str) -> None:
        log.warning(message)
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"MLR-Copilot: {message}"))

    def report_failure(self, what: str, exc: BaseException) -> None:
        """A failure the user must see (the server lives on): logged with its traceback and
        shown as an error message."""
        log.error("%s: %s", what, exc, exc_info=exc)
        self.window_show_message(types.ShowMessageParams(
            type=types.MessageType.Error, message=f"MLR-Copilot: {what}: {type(exc).__name__}: {exc}"))

    def log_line(self, line: str) -> None:
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=line))

    # features

    def add_feature(self, feature: Feature) -> None:
        """Register `feature`'s commands and handlers; a feature whose set-up fails is left
        out, and the failure shown when the client is ready, so the others still work."""
        try:
            feature.setup()
            for spec, handler in feature.commands():
                self._register_command(spec, handler)
        except Exception as exc:
            log.exception("feature %s could not be set up", type(feature).__name__)
            self.setup_failures.append(f"{type(feature).__name__} could not be set up: {type(exc).__name__}: {exc}")
            return
        self.features.append(feature)

    def handle(self, method: str, handler: Callable[..., Any], options: Any = None) -> None:
        """Register a bound method as the handler of LSP `method` (pygls marks the function it
        is given, which a bound method does not allow: it gets a plain function calling it)."""
        if inspect.iscoroutinefunction(handler):
            async def call_async(*args: Any) -> Any:
                return await handler(*args)

            self.feature(method, options)(call_async)
        else:
            def call(*args: Any) -> Any:
                return handler(*args)

            self.feature(method, options)(call)

    def register_shared_events(self) -> None:
        """One registration for each event several features may want, calling every feature."""
        self.handle(types.TEXT_DOCUMENT_DID_CHANGE, self._document_changed)
        kinds = sorted({kind for f in self.features for kind in f.code_action_kinds})
        if kinds:
            self.handle(types.TEXT_DOCUMENT_CODE_ACTION, self._code_actions, types.CodeActionOptions(code_action_kinds=kinds))

    def _document_changed(self, params: types.DidChangeTextDocumentParams) -> None:
        for feature in self.features:
            try:
                feature.document_changed(params)
            except Exception:  # one feature's bug must not stop the others hearing the edit
                log.exception("%s failed on didChange", type(feature).__name__)

    def _code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        actions: list[types.CodeAction] = []
        for feature in self.features:
            try:
                actions += feature.code_actions(params)
            except Exception:  # the other features' actions are still offered
                log.exception("%s failed on codeAction", type(feature).__name__)
        return actions

    def _register_command(self, spec: CommandSpec, handler: CommandHandler) -> None:
        """An engine-backed command. A user-facing failure becomes a JSON-RPC error carrying its
        message (and a log line); cancellation becomes RequestCancelled."""
        name = spec.name

        async def run(ls: MlrServer, *args: Any) -> Any:
            try:
                # a command may arrive before `initialized` has read the settings
                await asyncio.wait_for(ls.ready.wait(), timeout=30)
                return await handler(*args)
            except InvalidArguments as exc:
                log.info("%s: %s", name, exc)
                raise JsonRpcException(message=f"{name}: {exc}", code=INVALID_PARAMS) from None
            except ValidationError as exc:
                # a value the engine would not take (a negative timeout): said per field
                log.info("%s: %s", name, readable_validation(exc))
                raise JsonRpcException(message=f"{name}: {readable_validation(exc)}", code=INVALID_PARAMS) from None
            except MlrError as exc:
                log.info("%s failed: %s", name, exc)
                raise JsonRpcException(message=str(exc), code=-32001) from None
            except asyncio.CancelledError:
                raise JsonRpcRequestCancelled(message=f"{spec.title} was cancelled") from None

        self.command(name)(run)

    # workspace and settings

    def files_changed(self, uris: Iterable[str]) -> None:
        """Tell the agent's workspace map which files changed (editor saves, file events)."""
        if self._engine is None:
            return
        root = self._engine.workspace
        rels = []
        for uri in uris:
            path = to_fs_path(uri)
            if path is None:
                continue
            try:
                rels.append(Path(path).resolve().relative_to(root).as_posix())
            except ValueError:
                continue
        if rels:
            self._engine.files.changed(rels)

    async def watch_files(self) -> None:
        """Ask the client for every file event in the workspace, where it can send them."""
        workspace = getattr(self.client_capabilities, "workspace", None)
        watched = getattr(workspace, "did_change_watched_files", None)
        if not (watched and watched.dynamic_registration):
            return
        await self.client_register_capability_async(types.RegistrationParams(registrations=[types.Registration(
            id="mlr-copilot-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern="**/*")]))]))

    async def refresh_settings(self) -> None:
        """Re-read `workspace/configuration` over the initialization options; warn about
        every invalid value, which falls back to its default."""
        client_settings = self.pushed_settings
        workspace = getattr(self.client_capabilities, "workspace", None)
        if workspace and workspace.configuration:
            try:
                result = await asyncio.wait_for(
                    self.workspace_configuration_async(
                        types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
                    ),
                    timeout=10,
                )
                client_settings = result[0] if result else None
            except Exception as exc:
                log.warning("workspace/configuration failed: %s", exc)
        if self._engine is None:
            self._engine = Engine.load(self.workspace_root(), self.init_settings, client_settings)
            warnings = self._engine.warnings
        else:
            warnings = self._engine.reload_settings(self.init_settings, client_settings)
        for warning in warnings:
            self.warn(warning)


def create_server(create_features: Callable[[MlrServer], list[Feature]] = features.create) -> MlrServer:
    """The server with the features `create_features` builds (the built-in ones by default)."""
    server = MlrServer()
    lifecycle.register(server)
    for feature in create_features(server):
        server.add_feature(feature)
    server.register_shared_events()
    return server
