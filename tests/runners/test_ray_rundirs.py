"""Reused run folders of a Ray worker node (`ray_rundirs`), on a temporary folder: no Ray."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from mlr_copilot.runners import ray_rundirs
from mlr_copilot.runners.ray_rundirs import lease, sync

COMMIT = "a" * 40
OTHER = "b" * 40


def archive(files: dict[str, str], links: dict[str, str] | None = None, executable: tuple[str, ...] = ()) -> bytes:
    """A tar as `git archive` makes it: folders, then files and links."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        folders = sorted({str(parent) for name in [*files, *(links or {})] for parent in Path(name).parents} - {"."})
        for folder in folders:
            info = tarfile.TarInfo(folder + "/")
            info.type, info.mode = tarfile.DIRTYPE, 0o775
            tar.addfile(info)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o775 if name in executable else 0o664
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out.getvalue()


def contents(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[rel] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[rel] = "/"
        else:
            found[rel] = path.read_text()
    return found


TREE = {"train.py": "print('train')\n", "data/a.txt": "alpha\n", "data/deep/b.txt": "beta\n", "keep.txt": "same\n"}


def test_a_synced_folder_holds_exactly_the_commits_tree(tmp_path):
    folder = tmp_path / "dir-0"
    sync(folder, COMMIT, archive(TREE, {"link.txt": "data/a.txt"}, executable=("train.py",)))
    assert contents(folder) == {"data": "/", "data/a.txt": "alpha\n", "data/deep": "/", "data/deep/b.txt": "beta\n",
                                "keep.txt": "same\n", "link.txt": "-> data/a.txt", "train.py": "print('train')\n"}
    assert (folder / "train.py").stat().st_mode & 0o777 == 0o755
    assert (folder / "keep.txt").stat().st_mode & 0o777 == 0o644


def test_what_a_run_changed_made_or_replaced_is_gone_or_restored_and_outside_is_untouched(tmp_path):
    folder, outside = tmp_path / "dir-0", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n")
    tree = archive(TREE)
    sync(folder, COMMIT, tree)
    # run 1: modifies a file (same size, old mtime put back), leaves new files and folders,
    # replaces a file with a symlink pointing outside and another with a folder, hard-links one
    (folder / "keep.txt").write_text("SAME\n")
    stamp = (folder / "data/a.txt").stat()
    os.utime(folder / "keep.txt", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (folder / "left.txt").write_text("left by run 1\n")
    (folder / "checkpoints" / "ro").mkdir(parents=True)
    (folder / "checkpoints" / "ro" / "w.bin").write_bytes(b"x" * 100)
    (folder / "checkpoints" / "ro").chmod(0o500)
    (folder / "data/a.txt").unlink()
    (folder / "data/a.txt").symlink_to(outside / "secret.txt")
    (folder / "data/deep/b.txt").unlink()
    (folder / "data/deep/b.txt").mkdir()
    (folder / "data/deep/b.txt" / "inner.txt").write_text("inner\n")
    (folder / "data/link-out").symlink_to(outside)
    (folder / "train.py").unlink()
    os.link(outside / "secret.txt", folder / "train.py")
    (folder / "data").chmod(0o500)
    sync(folder, COMMIT, tree)
    assert contents(folder) == {"data": "/", "data/a.txt": "alpha\n", "data/deep": "/", "data/deep/b.txt": "beta\n",
                                "keep.txt": "same\n", "train.py": "print('train')\n"}
    assert contents(outside) == {"secret.txt": "outside\n"}


def test_switching_commits_rewrites_only_the_files_that_differ(tmp_path):
    folder = tmp_path / "dir-0"
    sync(folder, COMMIT, archive(TREE))
    before = {name: (folder / name).stat().st_ctime_ns for name in TREE}
    time.sleep(0.05)  # past the file system's clock tick: a rewritten file shows a later ctime
    sync(folder, OTHER, archive({**TREE, "train.py": "print('variant')\n", "new.txt": "new\n"}))
    after = {name: (folder / name).stat().st_ctime_ns for name in TREE}
    assert [name for name in TREE if before[name] != after[name]] == ["train.py"]
    assert (folder / "train.py").read_text() == "print('variant')\n" and (folder / "new.txt").read_text() == "new\n"
    sync(folder, COMMIT, archive(TREE))
    assert contents(folder) == {"data": "/", "data/a.txt": "alpha\n", "data/deep": "/", "data/deep/b.txt": "beta\n",
                                "keep.txt": "same\n", "train.py": "print('train')\n"}


def test_a_sync_cut_short_is_repaired_by_the_next(tmp_path):
    folder = tmp_path / "dir-0"
    sync(folder, COMMIT, archive(TREE))
    record = (tmp_path / "dir-0.json").read_text()
    sync(folder, OTHER, archive({**TREE, "keep.txt": "other\n"}))
    (tmp_path / "dir-0.json").write_text(record)  # as if killed before the record was replaced
    sync(folder, COMMIT, archive(TREE))
    assert (folder / "keep.txt").read_text() == "same\n"


def test_a_tree_with_a_member_outside_its_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outside"):
        sync(tmp_path / "dir-0", COMMIT, archive({"a.txt": "a"}, {"escape": "../../etc/passwd"}))
    with pytest.raises(ValueError, match="outside"):
        sync(tmp_path / "dir-1", COMMIT, archive({"../up.txt": "a"}))


def test_two_leases_get_different_folders_and_none_past_the_count(tmp_path):
    first, second = lease(COMMIT, tmp_path, 2), lease(COMMIT, tmp_path, 2)
    assert first is not None and second is not None and first.path != second.path
    assert lease(COMMIT, tmp_path, 2) is None
    first.release()
    third = lease(COMMIT, tmp_path, 2)
    assert third is not None and third.path == first.path
    second.release(), third.release()


def test_a_folder_last_synced_to_the_commit_is_leased_first(tmp_path):
    sync(tmp_path / "dir-1", OTHER, archive(TREE))
    held = lease(OTHER, tmp_path, 2)
    assert held is not None and held.path.name == "dir-1"
    held.release()


def test_a_dead_holders_folder_is_leased_again_and_repaired(tmp_path):
    held = lease(COMMIT, tmp_path, 1)
    assert held is not None
    sync(held.path, COMMIT, archive(TREE))
    held.release()
    # a worker that leased the folder, wrote in it and was killed mid-run
    code = (f"import os, signal, sys; sys.path[:0] = {sys.path!r}\n"
            "from pathlib import Path\n"
            "from mlr_copilot.runners.ray_rundirs import lease\n"
            f"held = lease({COMMIT!r}, Path({str(tmp_path)!r}), 1)\n"
            "(held.path / 'keep.txt').write_text('half written')\n"
            "(held.path / 'junk.bin').write_bytes(b'x')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == -9
    again = lease(COMMIT, tmp_path, 1)
    assert again is not None and again.path == held.path
    sync(again.path, COMMIT, archive(TREE))
    assert contents(again.path)["keep.txt"] == "same\n" and not (again.path / "junk.bin").exists()
    again.release()


def test_a_folder_the_sync_cannot_clear_is_made_again_from_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "dir-0"
    sync(folder, COMMIT, archive(TREE))
    (folder / "junk.txt").write_text("x")
    real, calls = ray_rundirs._sync_folder, []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(ray_rundirs, "_sync_folder", failing_once)
    sync(folder, COMMIT, archive(TREE))
    assert contents(folder) == {"data": "/", "data/a.txt": "alpha\n", "data/deep": "/", "data/deep/b.txt": "beta\n",
                                "keep.txt": "same\n", "train.py": "print('train')\n"}
