"""The environment an experiment sees: the caller's, less anything that looks like a secret.

Training scripts are code the copilot wrote or edited; they get no API keys, tokens or cloud
credentials of the person running the editor. The workspace's `.env` files hold such keys
too: the Docker runner hides them, the local runner cannot, so every runner scrubs the values
it knows out of the output it keeps.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from pathlib import Path

from mlr_copilot.workspace.paths import TOOLING_DIRS

# Matched case-insensitively against each variable name.
SECRET_PATTERNS = (
    "*_API_KEY",
    "*_APIKEY",
    "*_TOKEN",
    "*_TOKENS",
    "*_SECRET*",
    "*SECRET_KEY*",
    "*PASSWORD*",
    "*PASSWD*",
    "*_CREDENTIALS*",
    "*_PRIVATE_KEY*",
    "API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    "AWS_*",
    "AZURE_*",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "OPENAI_*",
    "ANTHROPIC_*",
    "CLAUDE_*",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
    "WANDB_API_KEY",
    "NPM_TOKEN",
    "PYPI_TOKEN",
    "TWINE_PASSWORD",
    "DOCKER_AUTH_CONFIG",
    "SSH_AUTH_SOCK",
)
# One expression for all the patterns: every run tests every variable of the environment twice.
_SECRET_NAME = re.compile("|".join(fnmatch.translate(pattern) for pattern in SECRET_PATTERNS))
# Shorter values of secret-named variables (a region, a flag) are too likely to be ordinary
# words of the output, and real keys and tokens are far longer.
MIN_SECRET_CHARS = 8
# How many folder levels below the workspace the search for `.env` files goes.
_DOTENV_DEPTH = 2


def is_secret(name: str) -> bool:
    return _SECRET_NAME.match(name.upper()) is not None


def scrub_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` without the variables that may hold credentials."""
    return {key: value for key, value in env.items() if not is_secret(key)}


def dotenv_files(workspace: Path) -> list[Path]:
    """The `.env` and `.env.*` files of the workspace and of its folders two levels down: keys
    sit at the top, where the engine reads them, and beside the code that uses them
    (`service/.env`, `apps/api/.env`). Deeper folders are datasets more often than services,
    and listing a hundred thousand images before every run is not worth it. Symlinked folders
    are not followed, so the search stays inside the workspace."""
    found = []
    for folder, dirs, files in os.walk(workspace):
        depth = len(Path(folder).relative_to(workspace).parts)
        dirs[:] = [d for d in dirs if d not in TOOLING_DIRS] if depth < _DOTENV_DEPTH else []
        found += [Path(folder, name) for name in files if name == ".env" or name.startswith(".env.")]
    return sorted(path for path in found if path.is_file())


def secret_values(env: Mapping[str, str], files: list[Path]) -> list[str]:
    """The values of secret-named variables in `env` and in the `.env` files `files` (the
    workspace's, as `dotenv_files` finds them), longest first so a value that contains another
    is masked whole."""
    found = {value for key, value in env.items() if is_secret(key)}
    if files:
        # the parser's import costs a short run more than the run itself; most workspaces have no .env
        from dotenv import dotenv_values
    for path in files:
        try:
            found.update(value for key, value in dotenv_values(path).items() if value and is_secret(key))
        except (OSError, UnicodeDecodeError):
            continue
    return sorted((value for value in found if len(value) >= MIN_SECRET_CHARS), key=len, reverse=True)
