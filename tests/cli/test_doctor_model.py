"""`doctor`'s "llm model" row: with a key and online, it asks the provider's models endpoint (a
real HTTP server on 127.0.0.1 through the real SDK) whether the configured model is served,
and it answers within its timeout when the endpoint does not."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlr_copilot.config import load_settings
from mlr_copilot.doctor import PACKAGES, Check, doctor
from mlr_copilot.llm.providers import PROVIDERS
from tests.llm import conftest as llm_stub
from tests.llm.conftest import OPENAI_KEY, Stub

stub = llm_stub.stub  # the fake models endpoint on 127.0.0.1
KEY = {"OPENAI_API_KEY": OPENAI_KEY}


def rows(llm: dict[str, object], environ: dict[str, str], **kwargs: float) -> dict[str, Check]:
    settings, warnings = load_settings({"llm": llm}, environ=environ)
    found = doctor(Path("/nonexistent-workspace"), settings, environ, warnings, **kwargs)
    return {check.check: check for check in found}


@pytest.fixture
def silent() -> Iterator[str]:
    """An endpoint that takes the connection and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


def test_a_listed_model_is_confirmed(stub):
    _server, url = stub
    Stub.models = ["gpt-5-mini", "gpt-5"]
    row = rows({"provider": "openai", "model": "gpt-5-mini", "baseUrl": f"{url}/v1"}, KEY)["llm model"]
    assert row.ok, row.finding
    assert row.finding == f"openai: model 'gpt-5-mini' is served by {url}/v1"
    assert Stub.seen == ["GET /v1/models"]


def test_an_unlisted_model_names_the_setting_and_lists_the_models(stub):
    _server, url = stub
    Stub.models = ["gpt-5", "gpt-5-mini"]
    row = rows({"provider": "openai", "model": "gpt-4o-mini", "baseUrl": f"{url}/v1"}, KEY)["llm model"]
    assert not row.ok
    assert "model 'gpt-4o-mini' is not among the 2 models" in row.finding
    assert "set llm.model (MLR_MODEL, --model) to one of: gpt-5, gpt-5-mini" in row.finding
    assert OPENAI_KEY not in row.finding


def test_an_endpoint_that_does_not_answer_is_a_row_within_the_timeout(silent):
    started = time.monotonic()
    row = rows({"provider": "openai", "baseUrl": silent}, KEY, model_timeout=1.0)["llm model"]
    assert time.monotonic() - started < 10  # the other checks (git, Docker with its 2 s) included
    assert not row.ok
    assert row.finding.endswith(f"not checked, {silent} did not answer within 1 s")


def test_an_unreachable_endpoint_is_a_row_saying_so():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]  # closed on leaving: nothing listens there
    row = rows({"provider": "openai", "baseUrl": f"http://127.0.0.1:{port}/v1"}, KEY, model_timeout=5.0)["llm model"]
    assert not row.ok
    assert row.finding.startswith("could not ask which models are served: "), row.finding


def test_no_question_without_a_key_offline_or_for_the_scripted_provider(stub):
    _server, url = stub
    assert "llm model" not in rows({"provider": "openai", "baseUrl": f"{url}/v1"}, {})
    offline = rows({"provider": "openai", "baseUrl": f"{url}/v1"}, {**KEY, "MLR_OFFLINE": "1"})["llm model"]
    assert offline.finding.endswith("not checked (offline mode)")
    assert "llm model" not in rows({"provider": "scripted"}, {})
    assert Stub.seen == []


def test_the_sdk_of_every_provider_is_a_package_row():
    sdks = {spec.sdk for spec in PROVIDERS.values() if spec.sdk}
    assert sdks and sdks <= set(PACKAGES)
