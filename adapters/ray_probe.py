"""Whether a Ray head answers at an address, in seconds: ray.init retries an absent head for minutes, and one
that is no Ray head (any server that accepts and never answers) for as long, printing Ray's own retry lines."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from invarlock.domain.errors import UsageError

PROBE_TIMEOUT_S = 5.0
CURRENT_CLUSTER = Path("/tmp/ray/ray_current_cluster")
# A gRPC server (Ray's GCS and its client server) answers the HTTP/2 connection preface with a SETTINGS frame.
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4


def unreachable(address: str, why: str) -> UsageError:
    return UsageError(
        "E240",
        f"cannot reach the Ray cluster at execution.address {address}: {why}",
        "start it with `ray start --head` (docs/reference/ray.md) or use execution.address: local",
    )


def head_of(address: str) -> str:
    """The head's HOST:PORT: `auto` reads RAY_ADDRESS, else the file `ray start` leaves (Ray's own lookup)."""
    if address != "auto":
        return address.removeprefix("ray://")
    found = os.environ.get("RAY_ADDRESS") or (
        CURRENT_CLUSTER.read_text(encoding="utf-8").strip() if CURRENT_CLUSTER.is_file() else ""
    )
    if not found or found == "auto":
        raise unreachable(address, "no running cluster found (no RAY_ADDRESS, no `ray start` on this host)")
    return found.removeprefix("ray://")


def require_reachable(address: str) -> None:
    """A gRPC answer from the head within PROBE_TIMEOUT_S: a TCP connection, then HTTP/2's SETTINGS frame in reply
    to the connection preface. UsageError E240 otherwise."""
    head = head_of(address)
    host, _, port = head.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # an IPv6 literal, [::1]:6379
    if not host or not port.isdigit():
        raise unreachable(address, f"{head!r} is not HOST:PORT")
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S) as probe:
            probe.sendall(_PREFACE)
            header = _read(probe, 9, deadline)
    except OSError as exc:
        said = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise unreachable(address, f"{head}: {said}") from exc
    if len(header) < 9 or header[3] != _SETTINGS:
        raise unreachable(address, f"{head} answers, but not as a Ray head (no gRPC reply)")


def _read(probe: socket.socket, size: int, deadline: float) -> bytes:
    """`size` bytes, or fewer where the peer closed; TimeoutError past `deadline` (in all, not per read: a server
    sending a byte every few seconds took 36 s)."""
    got = b""
    while len(got) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        probe.settimeout(left)
        chunk = probe.recv(size - len(got))
        if not chunk:
            break
        got += chunk
    return got
