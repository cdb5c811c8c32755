"""Run a command unable to make set-user-ID or set-group-ID files: `python3 setid_guard.py CMD...`.

Mounted read-only into every Docker run and put before its command. The container writes the
workspace as its owner, and an owner may give its own files the set-ID bits: a file left in the
workspace that way would run as the owner (as root, for a root-owned workspace) for any local
user who starts it, outside the sandbox. A seccomp filter, added on top of the engine's own
(filters stack; no privilege is needed once no_new_privs is set), refuses with EPERM every
chmod and file creation whose mode has those bits, and with ENOSYS openat2 and io_uring (whose
arguments it cannot read) and any system call of another architecture (x32 or 32-bit numbers
would bypass it). Runs in the container's Python: standard library only, no f-strings past 3.6,
types given in strings and comments (never evaluated there).
"""

import ctypes
import errno
import os
import platform
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Target = str | tuple[str, int] | int  # a jump: a label or an offset
    Symbolic = tuple[int, Target, Target, int]  # an instruction before its jumps are resolved
    Op = tuple[int, int, int, int]
    Calls = dict[int, tuple[int | None, int]]  # {syscall: (flags argument or None, mode argument)}

SETID = 0o6000
CREATES = 0o100 | 0o20000000  # O_CREAT | __O_TMPFILE
ALLOW = 0x7FFF0000
DENY = 0x00050000 | errno.EPERM
# for calls refused whole: "not implemented" makes libraries fall back to the plain calls
ABSENT = 0x00050000 | errno.ENOSYS
# (audit arch, {syscall: (flags argument or None, mode argument)}, calls refused outright)
ARCHES = {  # type: dict[str, tuple[int, Calls, tuple[int, ...]]]
    "x86_64": (0xC000003E, {2: (1, 2), 85: (None, 1), 90: (None, 1), 91: (None, 1), 133: (None, 1),
                            257: (2, 3), 259: (None, 2), 268: (None, 2), 452: (None, 2)}, (437, 425)),
    "aarch64": (0xC00000B7, {56: (2, 3), 33: (None, 2), 52: (None, 1), 53: (None, 2), 452: (None, 2)}, (437, 425)),
}
LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06


def program(arch: int, calls: "Calls", refused: "tuple[int, ...]") -> "list[Op]":
    """The filter as (code, jump if true, jump if false, k), its jumps resolved from the
    symbolic targets it is written with."""
    ops = [(LD, 0, 0, 4), (JEQ, 0, "absent", arch), (LD, 0, 0, 0)]  # type: list[Symbolic]
    if arch == 0xC000003E:
        ops.append((JGE, "absent", 0, 0x40000000))  # x32 numbers
    ops += [(JEQ, "absent", 0, nr) for nr in refused]
    ops += [(JEQ, ("check", nr), 0, nr) for nr in sorted(calls)]
    ops.append((RET, 0, 0, ALLOW))
    labels = {}  # type: dict[Target, int]
    for nr in sorted(calls):
        flags, mode = calls[nr]
        labels[("check", nr)] = len(ops)
        if flags is not None:
            ops += [(LD, 0, 0, 16 + 8 * flags), (JSET, 0, "allow", CREATES)]
        ops += [(LD, 0, 0, 16 + 8 * mode), (JSET, "deny", "allow", SETID)]
    labels["allow"] = len(ops)
    ops.append((RET, 0, 0, ALLOW))
    labels["deny"] = len(ops)
    ops.append((RET, 0, 0, DENY))
    labels["absent"] = len(ops)
    ops.append((RET, 0, 0, ABSENT))
    return [(code, _offset(jt, labels, at), _offset(jf, labels, at), k) for at, (code, jt, jf, k) in enumerate(ops)]


def _offset(target: "Target", labels: "dict[Target, int]", at: int) -> int:
    """How many instructions a jump at `at` skips to reach `target` (a label, or a number already)."""
    return target if isinstance(target, int) else labels[target] - at - 1


class Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]


def install() -> None:
    arch, calls, refused = ARCHES[platform.machine()]
    ops = program(arch, calls, refused)
    filters = (Filter * len(ops))(*[Filter(*op) for op in ops])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    prog = Program(len(ops), filters)
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


if __name__ == "__main__":
    try:
        install()
    except (OSError, KeyError, AttributeError) as exc:
        sys.stderr.write("mlr-copilot: cannot forbid set-ID files in this container (" + str(exc) + "); not running\n")
        sys.exit(126)
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    except OSError as exc:
        sys.stderr.write(sys.argv[1] + ": " + str(exc.strerror) + "\n")
        sys.exit(127 if isinstance(exc, FileNotFoundError) else 126)
