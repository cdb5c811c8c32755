"""The environment an experiment sees: the caller's, less anything that looks like a secret.

Training scripts are code the copilot wrote or edited; they get no API keys, tokens or cloud
credentials of the person running the editor.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

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


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern) for pattern in SECRET_PATTERNS)


def scrub_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` without the variables that may hold credentials."""
    return {key: value for key, value in env.items() if not is_secret(key)}
