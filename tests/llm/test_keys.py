from __future__ import annotations

import pytest

from mlr_copilot.llm.base import MissingKeyError
from mlr_copilot.llm.keys import api_key_for, key_required, key_status
from mlr_copilot.llm.redaction import redact


def test_openai_key_is_read_and_stripped():
    assert api_key_for("openai", {"OPENAI_API_KEY": " sk-abc123456789\n"}) == "sk-abc123456789"


def test_missing_openai_key_names_the_variable():
    with pytest.raises(MissingKeyError) as caught:
        api_key_for("openai", {"OPENAI_API_KEY": "  "})
    assert str(caught.value) == "No API key for openai: set OPENAI_API_KEY (environment or .env)"


def test_anthropic_accepts_the_claude_alias_and_prefers_the_canonical_name():
    assert api_key_for("anthropic", {"CLAUDE_API_KEY": "sk-ant-alias-000000"}) == "sk-ant-alias-000000"
    both = {"CLAUDE_API_KEY": "sk-ant-alias-000000", "ANTHROPIC_API_KEY": "sk-ant-main-111111"}
    assert api_key_for("anthropic", both) == "sk-ant-main-111111"
    with pytest.raises(MissingKeyError, match="set ANTHROPIC_API_KEY .*CLAUDE_API_KEY is accepted too"):
        api_key_for("anthropic", {})


def test_openai_compatible_key_is_optional():
    assert api_key_for("openai-compatible", {}) == "not-needed"
    assert api_key_for("openai-compatible", {"OPENAI_API_KEY": "sk-local-22222222"}) == "sk-local-22222222"
    assert not key_required("openai-compatible") and key_required("anthropic")


def test_key_status_for_doctor():
    assert key_status("openai", {}) == ("OPENAI_API_KEY", False)
    assert key_status("openai", {"OPENAI_API_KEY": "sk-x"}) == ("OPENAI_API_KEY", True)
    assert key_status("anthropic", {"CLAUDE_API_KEY": "k"}) == ("CLAUDE_API_KEY", True)
    assert key_status("anthropic", {}) == ("ANTHROPIC_API_KEY", False)
    assert key_status("scripted", {}) == ("", True)


def test_redact_hides_every_key_value():
    env = {
        "OPENAI_API_KEY": "sk-proj-abcdefgh12345678",
        "CLAUDE_API_KEY": "sk-ant-zyxwvuts98765432",
        "HF_TOKEN": "hf_tokenvalue1234",
        "HOME": "/root",
    }
    text = "a sk-proj-abcdefgh12345678 b sk-ant-zyxwvuts98765432 c hf_tokenvalue1234 /root"
    assert redact(text, env) == "a *** b *** c *** /root"
    assert redact("explicit s3cr3t-value-here", {}, extra=["s3cr3t-value-here"]) == "explicit ***"
    # A key that contains another is hidden whole, not leaving a tail behind.
    assert redact("sk-long-key-1234567890", {}, extra=["sk-long-key-1234567890", "key-1234567890"]) == "***"
