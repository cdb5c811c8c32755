"""The language server: a thin face over the engine. Each feature module under `lsp/` has a
`setup(server)` hook that registers its commands and handlers (esbonio's habit)."""

from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any

from lsprotocol import types
from pydantic import ValidationError
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import SERVER_NAME, __version__
from ..engine import Engine
from ..errors import MlrError
from . import transport
from .protocol import INVALID_PARAMS, KINDS, MlrProtocol
from .tasks import TaskRunner

log = logging.getLogger(__name__)

CONFIG_SECTION = "mlrCopilot"


class MlrServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(SERVER_NAME, __version__, protocol_cls=MlrProtocol)
        self.tasks = TaskRunner()
        self._engine: Engine | None = None
        self.init_settings: dict[str, Any] | None = None
        self.init_options: dict[str, Any] = {}
        self.pushed_settings: dict[str, Any] | None = None
        self.ready = asyncio.Event()

    def start_io(self, stdin=None, stdout=None) -> None:
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
            return Path(to_fs_path(next(iter(folders.values())).uri))
        if self.workspace.root_uri:
            return Path(to_fs_path(self.workspace.root_uri))
        return Path.cwd()

    def warn(self, message: str) -> None:
        log.warning(message)
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"MLR-Copilot: {message}"))

    def files_changed(self, uris) -> None:
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

    def log_line(self, line: str) -> None:
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=line))

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


def command(server: MlrServer, name: str, title: str) -> Callable:
    """Register an engine-backed command. A user-facing failure becomes a JSON-RPC error
    carrying its message (and a log line); cancellation becomes RequestCancelled."""

    def decorate(handler: Callable[..., Awaitable[Any]]):
        @wraps(handler)
        async def run(ls: MlrServer, *args: Any) -> Any:
            try:
                # a command may arrive before `initialized` has read the settings
                await asyncio.wait_for(ls.ready.wait(), timeout=30)
                return await handler(ls, *args)
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
                raise JsonRpcRequestCancelled(message=f"{title} was cancelled") from None

        server.command(name)(run)
        return handler

    return decorate


class InvalidArguments(MlrError):
    """A command's arguments have the wrong shape: answered as -32602 Invalid params."""


def readable_validation(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error["loc"]) or "the value"
        problems.append(f"{where}: {error['msg'][:1].lower()}{error['msg'][1:]}")
    return "; ".join(problems)


def arg(args: tuple[Any, ...], index: int, default: Any = None, kind: type | tuple[type, ...] | None = None,
        name: str = "") -> Any:
    """Argument `index`, or `default` when it is missing or null; with `kind`, an argument of
    another JSON type is refused, naming it (`name`, else its position)."""
    value = args[index] if len(args) > index and args[index] is not None else default
    if kind is not None and value is not default:
        check(value, kind, name or f"argument {index + 1}")
    return value


def option(options: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    """An optional field of an options object, refused when of another JSON type."""
    value = options.get(key)
    if value is not None:
        check(value, kind, key)
    return value


def check(value: Any, kind: type | tuple[type, ...], name: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not any(is_kind(value, k) for k in kinds):
        # an integer is a number: (int, float) reads "a number"
        wanted = " or ".join(KINDS.get(k, str(k)) for k in kinds if not (k is int and float in kinds))
        raise InvalidArguments(f"{name} must be {wanted}")


def is_kind(value: Any, kind: Any) -> bool:
    if typing.get_origin(kind) is list:
        [item] = typing.get_args(kind)
        return isinstance(value, list) and all(is_kind(v, item) for v in value)
    # JSON true/false arrive as bool, which Python counts as an int
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def create_server() -> MlrServer:
    server = MlrServer()

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: MlrServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        ls.init_options = dict(options) if isinstance(options, dict) else {}
        if isinstance(options, dict) and "settings" in options:
            options = options["settings"]
        # anything but an object is kept, so that loading the settings warns about it
        ls.init_settings = options

    @server.feature(types.INITIALIZED)
    async def on_initialized(ls: MlrServer, params: types.InitializedParams) -> None:
        try:
            await ls.refresh_settings()
            # runs a previous server left behind are closed before any new run can start
            from ..runners.execute import mark_interrupted

            closed = await asyncio.to_thread(mark_interrupted, ls.engine.workspace)
            for record in closed:
                ls.warn(f"run {record.id} was interrupted when the server stopped; it is marked interrupted")
            # an accepted change a killed server left between its files and its commit
            from ..experiment.transaction import settle

            try:
                await asyncio.to_thread(settle, ls.engine.git)
            except MlrError as exc:
                ls.warn(str(exc))
        except Exception as exc:
            log.warning("could not finish start-up: %s", exc)
        finally:
            ls.ready.set()
        try:
            await asyncio.wait_for(ls.watch_files(), timeout=10)
        except Exception as exc:
            # Without file events the agent's map still follows its own commits.
            log.info("file events not registered with the client: %s", exc)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration(ls: MlrServer, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get(CONFIG_SECTION), dict):
            ls.pushed_settings = settings[CONFIG_SECTION]
        await ls.refresh_settings()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def on_watched_files(ls: MlrServer, params: types.DidChangeWatchedFilesParams) -> None:
        ls.files_changed(change.uri for change in params.changes)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_save(ls: MlrServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.files_changed([params.text_document.uri])

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(ls: MlrServer, *args: Any) -> None:
        await ls.tasks.cancel_all()

    from . import features

    features.setup(server)
    return server

