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
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    return root


@pytest.mark.parametrize(
    "rel",
    [
        "../outside/secret.txt",
        "src/../../outside/secret.txt",
        "src/../model.py",
        "..\\outside\\secret.txt",
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
    os.symlink(tmp_path / "outside" / "secret.txt", ws / "link.txt")
    for rel in ("data/secret.txt", "data/new.txt", "link.txt"):
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
