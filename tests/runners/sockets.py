"""Which sockets a set of processes holds, read from /proc: for the loopback-only checks."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

_TABLES = ("tcp", "tcp6", "udp", "udp6")


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    host = hex_address.split(":")[0]
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def non_loopback_sockets(pids: set[int]) -> list[str]:
    """'pid table local -> remote' for every inet socket of `pids` whose local or remote
    address is neither loopback nor (for a remote end) unset."""
    inodes = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    bad = []
    for table in _TABLES:
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode not in inodes:
                continue
            here, there = _address(local), _address(remote)
            if not here.is_loopback or not (there.is_loopback or there.is_unspecified):
                bad.append(f"{inodes[inode]} {table} {here} -> {there}")
    return bad
