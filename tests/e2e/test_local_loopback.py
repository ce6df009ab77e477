"""The local stack and its doubles are development tools: they accept connections on loopback only.

Read from the kernel's socket tables (/proc/net/tcp and tcp6) for the sockets this process holds,
so a server bound to 0.0.0.0 or another interface fails here whatever URL it reports.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from local.stack import LocalStack

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listdir and readlink
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def decode_address(hex_address: str) -> tuple[str, int]:
    """'0100007F:1F90' → ('127.0.0.1', 8080); the kernel writes each 32-bit word in host order."""
    address, port = hex_address.split(":")
    raw = bytes.fromhex(address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words), int(port, 16)


def listening_addresses() -> list[tuple[str, int]]:
    """(address, port) of every TCP socket this process listens on."""
    inodes = own_socket_inodes()
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                found.append(decode_address(fields[1]))
    return found


def test_decode_address_reads_the_kernels_byte_order() -> None:
    assert decode_address("0100007F:1F90") == ("127.0.0.1", 8080)
    assert decode_address("00000000:0050") == ("0.0.0.0", 80)
    assert decode_address("00000000000000000000000001000000:01BB") == ("::1", 443)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_the_local_stack_listens_only_on_loopback(local_stack: LocalStack) -> None:
    assert local_stack.stripe is not None, "the e2e stack runs the built-in Stripe double"
    stack_ports = {
        urlsplit(local_stack.url).port: "the API",
        urlsplit(local_stack.moto_url).port: "moto",
        local_stack.stripe.port: "the Stripe double",
    }
    listening = listening_addresses()
    ports = {port for _, port in listening}
    missing = [what for port, what in stack_ports.items() if port not in ports]
    assert not missing, f"not found among this process's listening sockets {listening}: {missing}"
    exposed = [(address, port) for address, port in listening if not ipaddress.ip_address(address).is_loopback]
    assert not exposed, f"listening beyond loopback: {exposed}"
