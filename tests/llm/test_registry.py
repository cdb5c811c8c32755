"""The provider registry is the one list: settings validation, key lookup, prices, the CLI
choices and the VS Code extension's lists (which cannot import Python, so they are read here)
all name exactly its providers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlr_copilot.cli import GROUPS, build_parser
from mlr_copilot.config import LLMSettings, validate_settings
from mlr_copilot.llm.accounting import PRICES, price_for
from mlr_copilot.llm.keys import api_key_for, key_required, key_status
from mlr_copilot.llm.providers import DEFAULT_PROVIDER, PROVIDERS, provider_names
from mlr_copilot.llm.redaction import redact
from mlr_copilot.llm.scripted import SCRIPTED
from mlr_copilot.llm.spec import ProviderSpec

CLIENT = Path(__file__).resolve().parents[2] / "client-vscode"


def canonical_key_variables() -> set[str]:
    return {spec.key_variables[0] for spec in PROVIDERS.values() if spec.key_variables}


def test_the_extensions_provider_setting_offers_exactly_the_registered_providers():
    properties = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))["contributes"]["configuration"]["properties"]
    setting = properties["mlrCopilot.llm.provider"]
    assert setting["enum"] == provider_names()
    assert setting["default"] == DEFAULT_PROVIDER == LLMSettings().provider


def test_the_extension_stores_exactly_the_registered_key_variables():
    source = (CLIENT / "src" / "secrets.ts").read_text(encoding="utf-8")
    block = re.search(r"KEY_PROVIDERS[^=]*=\s*\[(.*?)\];", source, re.S)
    assert block, "secrets.ts no longer defines KEY_PROVIDERS as a list"
    stored = re.findall(r'env:\s*"([A-Z0-9_]+)"', block.group(1))
    assert len(stored) == len(set(stored))
    assert set(stored) == canonical_key_variables()


def test_the_cli_offers_exactly_the_registered_providers():
    parser = build_parser(list(GROUPS))
    for name in provider_names():
        assert parser.parse_args(["status", "--provider", name]).provider == name
    with pytest.raises(SystemExit):
        parser.parse_args(["status", "--provider", "nonsense"])


def test_an_unregistered_provider_falls_back_to_the_default_with_a_one_line_warning():
    settings, warnings = validate_settings({"llm": {"provider": "nonsense", "model": "m1"}})
    assert (settings.llm.provider, settings.llm.model) == (DEFAULT_PROVIDER, "m1")
    assert warnings == ["setting 'llm.provider' is invalid (Input should be 'openai', 'anthropic', "
                        "'openai-compatible' or 'scripted'); using the default"]
    assert validate_settings({"llm": {"provider": 3}})[1] == warnings


@pytest.mark.parametrize("spec", PROVIDERS.values(), ids=lambda spec: spec.name)
def test_each_provider_is_whole(spec: ProviderSpec):
    assert LLMSettings(provider=spec.name).resolved_model() == spec.default_model
    if spec.prices:  # a priced provider's default is priced, so a dollar budget holds
        assert price_for(spec.default_model) == spec.prices[spec.default_model]
        assert all(PRICES[model] == price for model, price in spec.prices.items())
    for variable in spec.key_variables:
        assert api_key_for(spec.name, {variable: "sk-registry-0123456789"}) == "sk-registry-0123456789"
        assert key_status(spec.name, {variable: "x"}) == (variable, True)
        assert redact("sk-registry-0123456789", {variable: "sk-registry-0123456789"}) == "***"
    assert key_required(spec.name) == (bool(spec.key_variables) and not spec.key_optional)


def test_a_key_variable_that_redact_would_not_hide_is_refused():
    with pytest.raises(ValueError, match="must end in API_KEY"):
        ProviderSpec(name="x", build=SCRIPTED.build, default_model="m", key_variables=("X_KEY",))


def test_what_stops_a_provider_is_one_line_naming_the_fix():
    assert PROVIDERS["openai-compatible"].problem(None) == (
        "The openai-compatible provider needs llm.baseUrl (or MLR_BASE_URL), "
        "e.g. http://localhost:11434/v1 for Ollama or http://localhost:8000/v1 for vLLM")
    assert PROVIDERS["openai-compatible"].problem("http://127.0.0.1:8000/v1") is None
    uninstalled = ProviderSpec(name="x", build=SCRIPTED.build, default_model="m", sdk="no_such_sdk_for_mlr")
    assert uninstalled.problem(None) == "The x provider needs the no_such_sdk_for_mlr package: pip install no_such_sdk_for_mlr"
