"""One pytest-lsp client driving the real server as a subprocess, against a real workspace."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER_ENV = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
SERVER_ENV["PYTHONUNBUFFERED"] = "1"


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "mlr_copilot.cli", "serve"], server_env=SERVER_ENV),
)
async def client(lsp_client: LanguageClient):
    lsp_client.lens_refreshes = 0
    lsp_client.registrations = []

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams):
        lsp_client.registrations += params.registrations

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def refresh_lenses(params):
        lsp_client.lens_refreshes += 1

    yield
    await lsp_client.shutdown_session()


async def start(client: LanguageClient, root: Path, *, settings: dict | None = None,
                options: dict | None = None, spec: str = "visual-studio-code") -> types.InitializeResult:
    """Initialize against `root`; `settings` answer workspace/configuration, `options` go in
    initializationOptions."""
    if settings is not None:
        client.set_configuration(settings, section="mlrCopilot")
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(spec),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options=options,
        )
    )
    return result


async def execute(client: LanguageClient, name: str, *arguments):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(arguments))
    )


async def wait_for(predicate, timeout: float = 20.0) -> bool:
    """Whether `predicate()` came to hold within `timeout` seconds (something the server sends
    or does in its own time)."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False
