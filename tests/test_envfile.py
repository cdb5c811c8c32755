"""A cloned workspace's `.env` is untrusted: it may give keys and narrowing knobs, never choose
where keys go, what runs or what is paid for, and it never changes the process's environment."""

from __future__ import annotations

import os

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.llm.keys import api_key_for

# What a hostile repository's .env would set; each name must be refused and named.
STEERING = {
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "MLR_BASE_URL": "http://127.0.0.1:9/v1",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    "MLR_PROVIDER": "scripted",
    "MLR_SCRIPT": "evil.jsonl",
    "MLR_MODEL": "gpt-4-32k",
    "MLR_COMMAND": "sh -c 'touch pwned'",
    "MLR_RUNNER": "local",
    "MLR_IMAGE": "evil:latest",
    "MLR_LIBRARY": "/home",
    "MLR_MLFLOW_URI": "http://127.0.0.1:9",
    "MLR_CACHE_DIR": "/tmp/evil-cache",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "SSL_CERT_FILE": "/tmp/evil-ca.pem",
    "LD_PRELOAD": "/tmp/evil.so",
    "GIT_SSH_COMMAND": "touch pwned",
    "GIT_CONFIG_PARAMETERS": "core.fsmonitor=touch-pwned",
    "PYTHONSTARTUP": "/tmp/evil.py",
    "DOCKER_HOST": "tcp://127.0.0.1:9",
    "PATH": "/tmp/evil-bin",
}


@pytest.fixture
def clean_env(monkeypatch):
    for name in [*STEERING, "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CLAUDE_API_KEY", "MLR_BUDGET_USD", "MLR_OFFLINE"]:
        if name != "PATH":
            monkeypatch.delenv(name, raising=False)


def write_env(workspace, values: dict[str, str]) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def test_hostile_dotenv_steers_nothing_and_is_named_in_one_warning(tmp_path, clean_env):
    write_env(tmp_path, {**STEERING, "DATABASE_URL": "postgres://db", "WANDB_PROJECT": "p"})
    before = dict(os.environ)
    engine = Engine.load(tmp_path)
    assert dict(os.environ) == before, "a workspace file never changes the process's environment"
    llm, run = engine.settings.llm, engine.settings.run
    assert (llm.provider, llm.base_url, llm.script, llm.model) == ("openai", None, None, "")
    assert (run.command, run.runner, run.image) == (None, "auto", "mlr-python:bookworm")
    assert engine.settings.ideas.library is None
    assert engine.settings.tracking.mlflow_uri is None, "a clone's .env would send every run to its host"
    [warning] = engine.warnings
    assert all(name in warning for name in STEERING), warning
    assert "DATABASE_URL" not in warning and "WANDB_PROJECT" not in warning
    assert all(value not in warning for value in STEERING.values())
    for name in STEERING:
        if name != "PATH":
            assert name not in engine.environ


def test_keys_and_narrowing_knobs_are_read_and_the_users_environment_wins(tmp_path, clean_env, monkeypatch):
    write_env(tmp_path, {"OPENAI_API_KEY": "sk-workspace-key-123", "MLR_BUDGET_USD": "2", "MLR_OFFLINE": "1",
                         "HF_HUB_OFFLINE": "1", "OPENALEX_MAILTO": "lab@example.org"})
    engine = Engine.load(tmp_path)
    assert engine.warnings == []
    assert api_key_for("openai", engine.environ) == "sk-workspace-key-123"
    assert engine.settings.llm.budget_usd == 2 and engine.settings.ideas.online is False
    assert engine.environ["OPENALEX_MAILTO"] == "lab@example.org"
    assert "OPENAI_API_KEY" not in os.environ and "OPENALEX_MAILTO" not in os.environ

    monkeypatch.setenv("OPENAI_API_KEY", "sk-user-own-key-456")
    monkeypatch.setenv("MLR_BUDGET_USD", "5")
    engine = Engine.load(tmp_path)
    assert api_key_for("openai", engine.environ) == "sk-user-own-key-456"
    assert engine.settings.llm.budget_usd == 5


def test_the_users_own_environment_still_sets_what_the_file_may_not(tmp_path, clean_env, monkeypatch):
    write_env(tmp_path, {"MLR_COMMAND": "sh -c 'touch pwned'", "MLR_BASE_URL": "http://127.0.0.1:9/v1"})
    monkeypatch.setenv("MLR_COMMAND", "python mine.py")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    engine = Engine.load(tmp_path)
    assert engine.settings.run.command == "python mine.py"
    assert engine.settings.llm.base_url == "http://127.0.0.1:8000/v1"
    assert "MLR_BASE_URL, MLR_COMMAND" in engine.warnings[0]


def test_editor_settings_reloaded_keep_the_workspace_knobs(tmp_path, clean_env):
    write_env(tmp_path, {"MLR_BUDGET_TOKENS": "1000", "MLR_PROVIDER": "scripted"})
    engine = Engine.load(tmp_path, {"llm": {"model": "m1"}})
    assert engine.reload_settings({"llm": {"model": "m2"}}) == []
    assert engine.settings.llm.model == "m2" and engine.settings.llm.budget_tokens == 1000
    assert engine.settings.llm.provider == "openai"


def test_no_value_is_built_from_the_users_own_variables(tmp_path, clean_env, monkeypatch):
    """`${OPENAI_API_KEY}` in the file is text, never the user's key sent to another service."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-user-own-key-789")
    write_env(tmp_path, {"OPENAI_API_KEY": "${ANTHROPIC_API_KEY}", "SEMANTIC_SCHOLAR_API_KEY": "${ANTHROPIC_API_KEY}",
                         "OPENALEX_MAILTO": "x${ANTHROPIC_API_KEY}"})
    environ = Engine.load(tmp_path).environ
    values = [environ[name] for name in ("OPENAI_API_KEY", "SEMANTIC_SCHOLAR_API_KEY", "OPENALEX_MAILTO")]
    assert all("sk-ant-user" not in value for value in values), values


@pytest.mark.parametrize("content", [b"\xff\xfe\x00OPENAI_API_KEY=\xff\n", b"=\n==\nexport\n'\n\"unclosed\n", b"\x00" * 1000])
def test_garbage_env_files_are_warned_about_never_a_traceback(tmp_path, clean_env, content):
    (tmp_path / ".env").write_bytes(content)
    engine = Engine.load(tmp_path)
    assert engine.settings.llm.provider == "openai"
    assert all("\n" not in warning for warning in engine.warnings)


def test_an_env_that_is_no_small_regular_file_is_not_read(tmp_path, clean_env):
    big = tmp_path / "big"
    big.mkdir()
    with open(big / ".env", "wb") as handle:
        handle.write(b"OPENAI_API_KEY=sk-x\n" + b"#" * (1 << 20))
    engine = Engine.load(big)
    assert "OPENAI_API_KEY" not in engine.environ and "larger than" in engine.warnings[0]
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / ".env")
    assert Engine.load(fifo).warnings == []  # returns at once: a FIFO is never opened
    link = tmp_path / "link"
    link.mkdir()
    (link / ".env").symlink_to("/dev/zero")
    assert Engine.load(link).warnings == []


def test_seeded_fuzz_of_env_files_steers_nothing(tmp_path, clean_env, monkeypatch):
    """Random files of allowed, steering and other variables with hostile values: the process's
    environment never changes, no steering setting moves off the user's, keys come from the
    file only where the user has none, every warning is one line without a value."""
    import random

    from mlr_copilot.envfile import ALLOWED

    rng = random.Random(5)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-user-own-key-789")
    names = [*STEERING, *sorted(ALLOWED), "DATABASE_URL", "mlr_command", "MLR_", "OPENAI_BASE_URL "]
    values = ["${ANTHROPIC_API_KEY}", "$ANTHROPIC_API_KEY", "'quoted value'", '"a\\nb"', "x=y", "", "\x1b]0;t\x07",
              "http://127.0.0.1:9/v1", "python evil.py", "é\u202e", "sk-file-key-123456"]
    before = dict(os.environ)
    tried = 0
    for case in range(200):
        workspace = tmp_path / str(case)
        workspace.mkdir()
        lines = [f"{'export ' if rng.random() < 0.2 else ''}{rng.choice(names)}={rng.choice(values)}"
                 for _ in range(rng.randint(1, 8))]
        (workspace / ".env").write_text("\n".join(lines) + "\n")
        engine = Engine.load(workspace)
        tried += 1
        assert dict(os.environ) == before
        llm, run = engine.settings.llm, engine.settings.run
        assert (llm.provider, llm.base_url, llm.script, llm.model) == ("openai", None, None, "")
        assert (run.command, run.runner, run.image) == (None, "auto", "mlr-python:bookworm")
        assert engine.environ["ANTHROPIC_API_KEY"] == "sk-ant-user-own-key-789"
        assert all("sk-ant-user" not in engine.environ.get(name, "") for name in ALLOWED if name != "ANTHROPIC_API_KEY")
        for warning in engine.warnings:
            assert "\n" not in warning and "evil" not in warning and "127.0.0.1" not in warning
    assert tried == 200


def test_a_file_of_garbage_lines_gives_a_few_warnings_not_thousands(tmp_path, clean_env):
    (tmp_path / ".env").write_text("not a setting\n" * 10_000 + "OPENAI_API_KEY=sk-file-key-123456\n")
    engine = Engine.load(tmp_path)
    assert len(engine.warnings) == 6 and "9995 more malformed lines" in engine.warnings[-1]
    assert engine.environ["OPENAI_API_KEY"] == "sk-file-key-123456"


# python-dotenv's own answers are the reference of `parse_env`, which reads a workspace's `.env`
# without it (start-up): statements, quoting, escapes, comments and malformed lines of every kind
PARITY_CASES = [
    "", "\n", "A=1", "A=1\n", "export A=1\n", "export  A=1\n", "exportA=1\n", "export\tA=1\n", "'A B'=1\n",
    "A = 1 \n", "A=1 # comment\n", "A=1# not a comment\n", "A='1 # kept'\n", 'A="1 # kept"\n', "# A=1\n", "  # A=1\n",
    "#=x\n", "A\n", "A \n", "A=\n", "A= \n", "A=''\n", 'A=""\n', "A='it\\'s'\n", 'A="say \\"hi\\""\n',
    'A="a\\nb\\tc\\\\d\\ae\\bf\\fg\\rh\\vi\\\'j\\qk"\n', "A='a\\nb\\\\c'\n", 'A="multi\nline"\nB=2\n',
    "A='multi\r\nline'\n", 'A="unterminated\nB=2\n', "A='unterminated\nB=2\n", "garbage line\nB=2\n",
    "=\n==\nexport\n'\n\"unclosed\n", "A=1\nA=2\n", "B=1\nA=2\nB=3\n", "A=1\r\nB=2\r\n", "A=1\rB=2\r", "A=${B}\n",
    "A=$B\n", "A=x=y\n", "A='x' trailing\nB=2\n", 'A="x" # c\nB=2\n', 'A="x"# c\n', "'A=1\n", "'A'\n",
    "A='1'\n'B'='2'\n", "\ufeffA=1\n", "A=\u00e9\u202e\n", "A=1\u2028B=2\n", "A=1\x0cB=2\n", "A=1\x85B=2\n",
    "\xa0A=1\n", "A\xa0=1\n", "A=\xa01\n", " \t\n\nA=1\n\n", "export A\n", "export 'A'=1\n", "A=1\\\nB=2\n",
    "A=\"\\\\\"\nB=2\n", "A='\\\\'\nB=2\n", "A=' \\' '\n", "A= 'x'\n", "A =\t'x'\n", "A=#x\n", "A= #x\n",
    "A=x #y #z\n", "A=x\t#y\n", "\x00A=1\n", "A=\x00\n", "A\x00=1\n",
]
FRAGMENTS = ["export ", "A", "B_2", "'A B'", "=", " = ", "'", '"', "\\", "\\n", "\\'", '\\"', "#", " # c", "\n", "\r\n",
             "\r", " ", "\t", "value", "${A}", "\u00e9", "\u2028", "\x0c", "\x85", "\xa0", "==", "x y", "\x00"]


def dotenv_answer(text: str) -> list[tuple[str, str | None]]:
    import io

    from dotenv import dotenv_values

    return list(dotenv_values(stream=io.StringIO(text), interpolate=False).items())


@pytest.mark.parametrize("text", PARITY_CASES)
def test_the_env_parser_reads_each_statement_as_python_dotenv_does(text):
    from mlr_copilot.envfile import parse_env

    assert list(parse_env(text).items()) == dotenv_answer(text)


def test_the_env_parser_agrees_with_python_dotenv_on_thousands_of_random_files():
    import random

    from mlr_copilot.envfile import parse_env

    rng = random.Random(16)
    for _ in range(4000):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 30)))
        assert list(parse_env(text).items()) == dotenv_answer(text), repr(text)
