"""Prototype code goes into the LLM's prompt, so secrets files are never indexed."""

from __future__ import annotations

from pathlib import Path

from mlr_copilot.retrieval.code import search_code


def test_secrets_files_are_never_searched(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "config").mkdir(parents=True)
    (ws / "train.py").write_text("def load_token():\n    return read_token_from_environment()\n")
    (ws / "secrets.json").write_text('{"hub_token": "sk-test-token"}\n')
    (ws / "config" / "credentials.yaml").write_text("hub_token: sk-test-token\n")
    (ws / ".env.d").mkdir()
    (ws / ".env.d" / "tokens.toml").write_text('hub_token = "sk-test-token"\n')
    result = search_code("hub token", workspace=ws, sources=[], cache_dir=tmp_path / "cache", k=10, online=False)
    assert [c.path for c in result.chunks] == ["train.py"]
