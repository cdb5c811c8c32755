"""The guard every Docker command starts under, tried on this machine: a command under it
cannot give a file set-user-ID or set-group-ID bits, by chmod or at creation, and everything
else it does works as before."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

import mlr_copilot.runners.setid_guard as guard

SCRIPT = """
import os, sys
folder = sys.argv[1]
plain = os.path.join(folder, "plain")
open(plain, "w").write("x")
os.chmod(plain, 0o755)
print("plain", oct(os.stat(plain).st_mode & 0o7777))
attempts = {
    "chmod u+s": lambda: os.chmod(plain, 0o4755),
    "chmod g+s": lambda: os.chmod(plain, 0o2755),
    "fchmod": lambda: os.fchmod(os.open(plain, os.O_RDONLY), 0o6755),
    "open": lambda: os.close(os.open(os.path.join(folder, "made"), os.O_CREAT | os.O_WRONLY, 0o4755)),
    "mknod": lambda: os.mknod(os.path.join(folder, "node"), 0o104755),
}
for what, attempt in attempts.items():
    try:
        attempt()
        print(what, "allowed")
    except PermissionError:
        print(what, "refused")
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
print("io_uring_setup", libc.syscall(425, 1, params), errno.errorcode[ctypes.get_errno()])
"""


@pytest.mark.skipif(platform.machine() not in guard.ARCHES, reason=f"no filter for {platform.machine()}")
def test_no_set_id_file_can_be_made_and_the_rest_works(tmp_path):
    done = subprocess.run([sys.executable, "-I", "-S", guard.__file__, sys.executable, "-c", SCRIPT, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["plain 0o755", "chmod u+s refused", "chmod g+s refused", "fchmod refused",
                                        "open refused", "mknod refused", "io_uring_setup -1 ENOSYS"]
    assert [path.name for path in tmp_path.iterdir()] == ["plain"]
    assert Path(tmp_path / "plain").stat().st_mode & 0o7777 == 0o755


def test_a_missing_command_is_one_line_and_exit_127():
    done = subprocess.run([sys.executable, guard.__file__, "no-such-command-here"], capture_output=True, text=True)
    assert done.returncode == 127 and done.stderr.strip() == "no-such-command-here: No such file or directory"
