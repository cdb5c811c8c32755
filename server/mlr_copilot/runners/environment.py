"""The environment an experiment sees: the caller's, less anything that looks like a secret.

Training scripts are code the copilot wrote or edited; they get no API keys, tokens or cloud
credentials of the person running the editor. The workspace's secrets files (`.env`,
kaggle.json, credentials, private keys: see `secretfiles`) hold such keys too: the Docker
runner hides them, the local runner cannot, so every runner scrubs the values it knows out of
the output it keeps.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path

from .secretfiles import is_dotenv, values_in

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
# A value another secrets file (.netrc, credentials) holds is a password or key, even short
# (`password hunter2`); a `.env`'s secret-named variables are held to the floor above.
MIN_FILE_SECRET_CHARS = 6
MAX_FILE_VALUES = 512


def is_secret(name: str) -> bool:
    return _SECRET_NAME.match(name.upper()) is not None


def scrub_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` without the variables that may hold credentials."""
    return {key: value for key, value in env.items() if not is_secret(key)}


def secret_values(env: Mapping[str, str], files: list[Path]) -> list[str]:
    """The values of secret-named variables in `env` and the secret values in the workspace's
    secrets files `files` (as `secret_files` finds them), longest first so a value that
    contains another is masked whole."""
    found = {value for key, value in env.items() if is_secret(key) and len(value) >= MIN_SECRET_CHARS}
    from_files: set[str] = set()
    for path in files:
        floor = MIN_SECRET_CHARS if is_dotenv(path.name) else MIN_FILE_SECRET_CHARS
        from_files.update(value for value in values_in(path, is_secret) if len(value) >= floor)
    # the same bound over all files: each value costs the masking of every chunk of output
    found.update(sorted(from_files, key=len, reverse=True)[:MAX_FILE_VALUES])
    return sorted(found, key=len, reverse=True)
