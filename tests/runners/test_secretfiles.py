"""Secrets files: one list of names finds them, and the values a log must never show are read
out of each format they come in."""

from __future__ import annotations

import os

import pytest

from mlr_copilot.runners.environment import is_secret, secret_values
from mlr_copilot.runners.secretfiles import Scan, scan, secret_files, values_in

PEM_BODY = ["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw",
            "7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFc"]
# (file name, content, values that must be masked)
FORMATS = [
    ("kaggle.json", '{"username": "kaggle_user_01", "key": "0123456789abcdef0123456789abcdef"}',
     ["0123456789abcdef0123456789abcdef"]),
    (".netrc", "machine api.example.com\n  login alice\n  password correcthorsebattery\n", ["correcthorsebattery"]),
    ("_netrc", "machine example.org login bob password hunter2\n", ["hunter2"]),
    ("credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
     ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]),
    ("secrets.toml", 'db_password = "plainwordsecret"\n', ["plainwordsecret"]),
    (".pgpass", "localhost:5432:db:alice:s3cretPassw0rd\n", ["s3cretPassw0rd"]),
    (".git-credentials", "https://alice:ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com\n",
     ["ghp_16C7e42F292c6912E7710c838347Ae178B4a"]),
    (".npmrc", "//registry.npmjs.org/:_authToken=npm_abcdefghijklmnop\n", ["npm_abcdefghijklmnop"]),
    ("id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END OPENSSH PRIVATE KEY-----\n",
     PEM_BODY),
    ("service-account.json", '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
     + "\\n".join(PEM_BODY) + '\\n-----END PRIVATE KEY-----\\n"}', PEM_BODY),
    (".envrc", "export OPENAI_API_KEY=sk-envrc-0123456789\nexport AWS_PROFILE=default\nexport MODEL=gpt-4o-mini\n",
     ["sk-envrc-0123456789"]),
]


@pytest.mark.parametrize("name,content,expected", FORMATS, ids=[f[0] for f in FORMATS])
def test_each_format_gives_up_its_secret_values(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    assert secret_files(tmp_path) == [path]
    found = secret_values({}, [path])
    assert set(expected) <= set(found), found
    # a .env-style file keeps its ordinary settings, and short ones, readable in the log
    assert "gpt-4o-mini" not in found and "default" not in found


def test_the_search_finds_files_and_folders_at_any_depth_and_never_enters_them(tmp_path):
    for rel in ("kaggle.json", "deploy/tls.key", "apps/api/.env", "secrets/db.txt", ".venv/lib/x.pem",
                "data/train/cats/id_rsa", "data/a/b/c/d/e/.env.local", "id_to_label.json", "keys/id_rsa.pub",
                ".env/pyvenv.cfg", "node_modules/pkg/test/server.key"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in secret_files(tmp_path)] == [
        "apps/api/.env", "data/a/b/c/d/e/.env.local", "data/train/cats/id_rsa", "deploy/tls.key", "kaggle.json",
        "secrets"]
    (tmp_path / "secrets" / "db.txt").write_text("password = folder-secret-0123\n")
    (tmp_path / "secrets" / "deeper").mkdir()
    (tmp_path / "secrets" / "deeper" / "more.txt").write_text("password = too-deep-0123\n")
    assert secret_values({}, [tmp_path / "secrets"]) == ["folder-secret-0123"]


def test_the_search_is_bounded_and_finds_the_shallow_files_first(tmp_path):
    for n in range(30):
        (tmp_path / "images" / f"class{n}").mkdir(parents=True)
        for i in range(10):
            (tmp_path / "images" / f"class{n}" / f"{i}.jpg").write_text("")
    (tmp_path / "images" / "class29" / "deep").mkdir()
    (tmp_path / "images" / "class29" / "deep" / ".env").write_text("TOKEN=x\n")
    (tmp_path / ".env").write_text("TOKEN=y\n")
    whole = scan(tmp_path)
    assert whole.complete and whole.found == [tmp_path / ".env", tmp_path / "images" / "class29" / "deep" / ".env"]
    cut = scan(tmp_path, limit=100)
    assert not cut.complete and cut.found == [tmp_path / ".env"]
    assert scan(tmp_path / ".env") == Scan([tmp_path / ".env"], True)
    assert scan(tmp_path / "images" / "class0" / "0.jpg") == Scan([], True)


def test_special_and_binary_files_are_not_read(tmp_path):
    os.mkfifo(tmp_path / "credentials.json")  # opening it for reading would wait for a writer forever
    (tmp_path / "store.p12").write_bytes(b"\x30\x82\x00\x00binary-keystore-0123456789")
    assert values_in(tmp_path / "credentials.json", is_secret) == set()
    assert values_in(tmp_path / "store.p12", is_secret) == set()
    assert secret_values({}, secret_files(tmp_path)) == []


def test_pathological_secrets_files_are_read_in_one_pass(tmp_path):
    """A workspace's file is untrusted: one endless word, unclosed PEM blocks or deep nesting
    must neither stall every run (the name search was quadratic) nor end it with a traceback."""
    cases = {"secrets.txt": "a" * 256 * 1024, "key.pem": "-----BEGIN X-----\n" * 15_000,
             "credentials.json": "[" * 200_000, "kaggle.json": '{"key": "' + "k" * 300_000}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    values = secret_values({}, secret_files(tmp_path))
    assert "a" * 256 * 1024 in values and all(len(value) <= 256 * 1024 for value in values)


def test_a_file_of_thousands_of_tokens_keeps_its_longest(tmp_path):
    (tmp_path / "secrets.txt").write_text("\n".join(f"token{n:05d}x" + "y" * (n % 7) for n in range(5000)))
    values = secret_values({}, secret_files(tmp_path))
    assert len(values) == 128 and min(map(len, values)) == len("token00000x") + 6
