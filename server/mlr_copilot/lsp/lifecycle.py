"""The session's own messages: initialization options, settings (read once `initialized`, again
on each change), file events for the agent's workspace map, and shutdown. Start-up work that
fails is logged and shown to the user; the server still answers."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..errors import MlrError
from ..experiment.transaction import settle
from ..runners.execute import mark_interrupted

if TYPE_CHECKING:
    from .server import MlrServer

log = logging.getLogger(__name__)

# the settings' section in `workspace/configuration` and `didChangeConfiguration`
CONFIG_SECTION = "mlrCopilot"


def register(server: MlrServer) -> None:
    server.feature(types.INITIALIZE)(on_initialize)
    server.feature(types.INITIALIZED)(on_initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(on_configuration)
    server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(on_watched_files)
    server.feature(types.TEXT_DOCUMENT_DID_SAVE)(on_save)
    server.feature(types.SHUTDOWN)(on_shutdown)


def on_initialize(ls: MlrServer, params: types.InitializeParams) -> None:
    options = params.initialization_options
    ls.init_options = dict(options) if isinstance(options, dict) else {}
    if isinstance(options, dict) and "settings" in options:
        options = options["settings"]
    # anything but an object is kept, so that loading the settings warns about it
    ls.init_settings = options


async def on_initialized(ls: MlrServer, params: types.InitializedParams) -> None:
    for failure in ls.setup_failures:
        log.error("%s", failure)
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"MLR-Copilot: {failure}"))
    try:
        await ls.refresh_settings()
        await close_what_a_previous_server_left(ls)
    except Exception as exc:
        ls.report_failure("could not finish start-up", exc)
    finally:
        ls.ready.set()
    for feature in ls.features:
        try:
            await feature.ready()
        except Exception as exc:
            ls.report_failure(f"{type(feature).__name__} could not start", exc)
    try:
        await asyncio.wait_for(ls.watch_files(), timeout=10)
    except Exception as exc:
        # Without file events the agent's map still follows its own commits.
        log.info("file events not registered with the client: %s", exc)


async def close_what_a_previous_server_left(ls: MlrServer) -> None:
    """Runs a previous server left behind are closed before any new run can start, and an
    accepted change it left between its files and its commit is settled."""
    closed = await asyncio.to_thread(mark_interrupted, ls.engine.workspace)
    for record in closed:
        ls.warn(f"run {record.id} was interrupted when the server stopped; it is marked interrupted")
    try:
        await asyncio.to_thread(settle, ls.engine.git)
    except MlrError as exc:
        ls.warn(str(exc))


async def on_configuration(ls: MlrServer, params: types.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, dict) and isinstance(settings.get(CONFIG_SECTION), dict):
        ls.pushed_settings = settings[CONFIG_SECTION]
    await ls.refresh_settings()


def on_watched_files(ls: MlrServer, params: types.DidChangeWatchedFilesParams) -> None:
    ls.files_changed(change.uri for change in params.changes)


def on_save(ls: MlrServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.files_changed([params.text_document.uri])


async def on_shutdown(ls: MlrServer, *args: Any) -> None:
    await ls.stop_background()
    await ls.jobs.cancel_all()
