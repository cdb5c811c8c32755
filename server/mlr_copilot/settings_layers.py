"""The settings as given, before validation: the environment's (`ENV_SETTINGS`) with each
layer over it. Apart from `config` (pydantic) so an engine over none given can leave the
validation to the first read of a setting (`Engine.load`): the commands that read none start
without pydantic."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value is not None:
            out[key] = value
    return out



ENV_SETTINGS = {
    "MLR_PROVIDER": ("llm", "provider"),
    "MLR_MODEL": ("llm", "model"),
    "MLR_BASE_URL": ("llm", "base_url"),
    "OPENAI_BASE_URL": ("llm", "base_url"),
    "MLR_SCRIPT": ("llm", "script"),
    "MLR_BUDGET_USD": ("llm", "budget_usd"),
    "MLR_BUDGET_TOKENS": ("llm", "budget_tokens"),
    "MLR_RUNNER": ("run", "runner"),
    "MLR_IMAGE": ("run", "image"),
    "MLR_COMMAND": ("run", "command"),
    "MLR_GPU_IDS": ("run", "gpu_ids"),
    "MLR_RAY_ADDRESS": ("run", "ray_address"),
    "MLR_LIBRARY": ("ideas", "library"),
    "MLR_MLFLOW_URI": ("tracking", "mlflow_uri"),
}


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings that environment variables set, as a raw dict for `validate_settings`."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for var, (section, key) in ENV_SETTINGS.items():
        if environ.get(var):
            raw.setdefault(section, {}).setdefault(key, environ[var])
    if environ.get("MLR_OFFLINE") in ("1", "true", "yes"):
        raw.setdefault("ideas", {})["online"] = False
    return raw


def raw_settings(*layers: object, environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The environment's settings with each layer over it (editor options, then
    `workspace/configuration`), and a warning for each layer that is not an object."""
    raw = settings_from_env(environ)
    ignored: list[str] = []
    for layer in layers:
        if isinstance(layer, dict):
            raw = _merge(raw, layer)
        elif layer is not None:
            ignored.append(
                f"settings must be an object of sections (llm, ideas, implement, run, tracking, search), not "
                f"{type(layer).__name__}; ignored them and kept the defaults"
            )
    return raw, ignored
