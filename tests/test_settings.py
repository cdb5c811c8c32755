"""Settings at the middle layer: a bad value never stops anything; it falls back to its default
with a warning naming the setting, and the good values beside it are kept."""

from __future__ import annotations

from mlr_copilot.config import RunSettings, Settings, load_settings, validate_settings


def test_a_bad_value_falls_back_to_its_default_with_a_warning_and_its_neighbours_are_kept():
    settings, warnings = validate_settings({"run": {"timeout": -5, "memoryMb": 512, "runner": "local"}})
    assert settings.run.timeout == RunSettings().timeout
    assert settings.run.memory_mb == 512 and settings.run.runner == "local"
    assert len(warnings) == 1 and warnings[0].startswith("setting 'run.timeout' is invalid")
    assert warnings[0].endswith("using the default")


def test_a_section_that_is_not_an_object_is_the_defaults_with_a_warning():
    settings, warnings = validate_settings({"llm": "gpt", "ideas": {"hypotheses": 3}})
    assert settings.llm == Settings().llm and settings.ideas.hypotheses == 3
    assert warnings == ["setting 'llm' must be an object; using defaults"]


def test_an_unknown_runner_or_direction_falls_back_and_is_named():
    settings, warnings = validate_settings({"run": {"runner": "kubernetes", "direction": "up", "metric": "f1"}})
    assert settings.run.runner == "auto" and settings.run.direction is None and settings.run.metric == "f1"
    assert sorted(w.split("'")[1] for w in warnings) == ["run.direction", "run.runner"]


def test_a_layer_that_is_not_an_object_is_ignored_with_a_warning_and_the_environment_stays():
    settings, warnings = load_settings(["not", "a", "dict"], environ={"MLR_MODEL": "m", "MLR_RUNNER": "local"})
    assert settings.llm.model == "m" and settings.run.runner == "local"
    assert len(warnings) == 1 and "not list" in warnings[0]


def test_a_bad_environment_value_falls_back_like_any_other():
    settings, warnings = load_settings(environ={"MLR_BUDGET_USD": "lots", "MLR_PROVIDER": "anthropic"})
    assert settings.llm.budget_usd is None and settings.llm.provider == "anthropic"
    assert [w.split("'")[1] for w in warnings] == ["llm.budget_usd"]


def test_editor_layers_override_the_environment_key_by_key():
    settings, warnings = load_settings({"llm": {"model": "editor"}}, {"run": {"cpus": 4}},
                                       environ={"MLR_MODEL": "env", "MLR_PROVIDER": "anthropic"})
    assert (settings.llm.model, settings.llm.provider, settings.run.cpus) == ("editor", "anthropic", 4)
    assert warnings == []
