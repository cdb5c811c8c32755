import os

import pytest

from mlr_copilot.errors import MlrError
from mlr_copilot.workspace.paths import EditEscapeError, relative_posix, safe_path


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "model.py").write_text("x = 1\n")
    (root / ".git").mkdir()
    (root / ".mlr").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "private.txt").write_text("private")
    return root


@pytest.mark.parametrize(
    "rel",
    [
        "../outside/private.txt",
        "src/../../outside/private.txt",
        "src/../model.py",
        "..\\outside\\private.txt",
        "/etc/passwd",
        "\\etc\\passwd",
        "C:/Windows/win.ini",
        "~/.bashrc",
        ".git/config",
        ".git/hooks/pre-commit",
        "sub/.git/config",
        ".GIT/config",
        ".mlr/state.json",
        "./.mlr/x",
        "",
        "   ",
        ".",
        "./",
        "src/\x00model.py",
    ],
)
def test_escapes_are_refused(ws, rel):
    with pytest.raises(EditEscapeError) as info:
        safe_path(ws, rel)
    assert isinstance(info.value, MlrError)
    assert "refused path" in str(info.value)


def test_symlink_leading_outside_is_refused(ws, tmp_path):
    os.symlink(tmp_path / "outside", ws / "data")
    os.symlink(tmp_path / "outside" / "private.txt", ws / "link.txt")
    for rel in ("data/private.txt", "data/new.txt", "link.txt"):
        with pytest.raises(EditEscapeError, match="outside the workspace"):
            safe_path(ws, rel)


def test_symlink_into_git_folder_is_refused(ws):
    os.symlink(ws / ".git", ws / "innocent")
    with pytest.raises(EditEscapeError, match=r"\.git/"):
        safe_path(ws, "innocent/config")


def test_paths_inside_are_resolved(ws):
    assert safe_path(ws, "src/model.py") == (ws / "src" / "model.py").resolve()
    assert safe_path(ws, "./src//model.py") == (ws / "src" / "model.py").resolve()
    assert safe_path(ws, "new/dir/file.py") == (ws / "new" / "dir" / "file.py").resolve()
    assert relative_posix(ws, "./src//model.py") == "src/model.py"
    assert safe_path(ws, ".github/workflows/ci.yml").name == "ci.yml"


def test_symlink_inside_the_workspace_is_followed(ws):
    os.symlink(ws / "src", ws / "code")
    assert relative_posix(ws, "code/model.py") == "src/model.py"


@pytest.mark.parametrize(
    "rel",
    [".env", ".ENV", "config/.env.local", ".env.production", ".envrc", "kaggle.json", "deploy/credentials.json",
     "secrets.toml", "keys/id_rsa", "certs/server.pem", "tls.key", ".netrc", ".env/lib/site.py"],
)
def test_secrets_files_are_refused(ws, rel):
    with pytest.raises(EditEscapeError, match="looks like a secrets file"):
        safe_path(ws, rel)


@pytest.mark.parametrize("rel", ["env.py", "environment.yml", "keys/id_rsa.pub", "src/tokenizer.py", "dotenv_demo.py"])
def test_names_close_to_secrets_are_allowed(ws, rel):
    assert safe_path(ws, rel).name == rel.rsplit("/", 1)[-1]


def test_symlink_to_a_secrets_file_is_refused(ws):
    (ws / ".env").write_text("OPENAI_API_KEY=sk-test\n")
    os.symlink(ws / ".env", ws / "settings.txt")
    with pytest.raises(EditEscapeError, match=r"leads to \.env"):
        safe_path(ws, "settings.txt")
