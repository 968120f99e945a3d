"""The Ray head probe and the pool's checks that need no cluster: a server that accepts and never answers, or
answers in another protocol, is E240 in seconds (ray.init waited minutes on it, printing Ray's retry lines); a gRPC
server (as a Ray head) passes; IPv6 literals; more actors than CPUs; a ray:// address without Ray Client."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import types
from collections.abc import Iterator

import pytest
from invarlock.adapters import ray_probe
from invarlock.domain.errors import UsageError


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def _answering(server: socket.socket, reply: bytes) -> None:
    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(64)
        conn.sendall(reply)
        time.sleep(1)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()


def _refusal(address: str) -> UsageError:
    with pytest.raises(UsageError) as refused:
        ray_probe.require_reachable(address)
    assert refused.value.code == "E240" and "\n" not in refused.value.message
    return refused.value


def test_a_server_that_accepts_and_never_answers_is_e240_within_the_probe_timeout(listener, monkeypatch) -> None:
    monkeypatch.setattr(ray_probe, "PROBE_TIMEOUT_S", 0.5)
    port = listener.getsockname()[1]
    started = time.monotonic()
    assert _refusal(f"127.0.0.1:{port}").message.endswith(f"127.0.0.1:{port}: no answer")
    assert time.monotonic() - started < 5


def test_a_server_speaking_another_protocol_is_not_taken_for_a_ray_head(listener) -> None:
    _answering(listener, b"HTTP/1.1 400 Bad Request\r\n\r\n")
    port = listener.getsockname()[1]
    assert "answers, but not as a Ray head (no gRPC reply)" in _refusal(f"127.0.0.1:{port}").message


def test_a_server_answering_the_http2_preface_with_its_settings_passes_the_probe(listener) -> None:
    """What a gRPC server (a Ray head's GCS; checked by hand on a `ray start --head` of Ray 2.60) answers first."""
    _answering(listener, bytes([0, 0, 6, 4, 0, 0, 0, 0, 0]) + bytes([0, 3, 0, 0, 0, 100]))
    ray_probe.require_reachable(f"ray://127.0.0.1:{listener.getsockname()[1]}")


def test_an_ipv6_literal_is_read_without_its_brackets() -> None:
    # "[::1]" was looked up as a host name: "Name or service not known"
    message = _refusal("[::1]:1").message
    assert message.startswith("cannot reach the Ray cluster at execution.address [::1]:1: [::1]:1: ")
    assert "not known" not in message


def test_more_actors_than_the_clusters_cpus_is_e240_not_a_wait_for_ever() -> None:
    from invarlock.adapters.ray_pool import require_cpus

    cluster = types.SimpleNamespace(cluster_resources=lambda: {"CPU": 2.0})
    require_cpus(cluster, "local", 2)
    require_cpus(cluster, "127.0.0.1:6379", 3)  # a remote cluster may scale up for the actors that wait
    with pytest.raises(UsageError) as refused:
        require_cpus(cluster, "local", 3)
    assert (
        refused.value.code == "E240" and "offers 2 CPU(s): execution.actors 3 needs one each" in refused.value.message
    )


def test_a_ray_client_address_without_ray_client_is_e105(monkeypatch) -> None:
    from invarlock.adapters import ray_pool

    def init(**options: object) -> None:
        raise RuntimeError("Ray Client requires pip package `ray[client]`. If you installed the minimal Ray ...")

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(ray_pool, "require_reachable", lambda address: None)
    with pytest.raises(UsageError) as refused:
        ray_pool.connect("ray://head:10001")
    assert refused.value.code == "E105" and refused.value.hint == "pip install 'ray[client]'"


def test_the_probe_limit_holds_for_the_whole_answer_not_each_byte(listener, monkeypatch) -> None:
    """The regression hunt: a server sending one byte every 4 s passed a 5 s limit after 36 s."""
    monkeypatch.setattr(ray_probe, "PROBE_TIMEOUT_S", 0.6)

    def drip() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):  # the probe hangs up half way
            for byte in bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]):
                conn.sendall(bytes([byte]))
                time.sleep(0.25)

    threading.Thread(target=drip, daemon=True).start()
    started = time.monotonic()
    assert _refusal(f"127.0.0.1:{listener.getsockname()[1]}").message.endswith(": no answer")
    assert time.monotonic() - started < 1.5
