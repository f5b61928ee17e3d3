"""``syncer webhook`` against hostile clients: slow headers, a slow body, no secret, big bodies.

The server runs in this process on a loop of its own (a thread), with its
request deadline shrunk to half a second; each client is a raw socket.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from lab.registry import free_port
from syncer.cli.webhookserver import Service, application, serve
from syncer.config.files import SyncConfig
from syncer.fleet.onpush import Batcher

pytestmark = pytest.mark.integration

SECRET = "s" * 24
TIMEOUT = 0.5


@pytest.fixture
def port() -> Iterator[int]:
    """A webhook server on 127.0.0.1 with a short request deadline; its port."""
    chosen = free_port()
    batcher = Batcher(SyncConfig({}, (), {}), lambda c: "p", 1.0, lambda p, f: None)
    service = Service((), SECRET, batcher)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            serve(application(service), "127.0.0.1", chosen, timeout=TIMEOUT)
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    yield chosen
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (recv reads EOF or a reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def _request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        return sock.recv(4096)


def test_headers_that_never_finish_are_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        start = time.monotonic()
        assert _closed_within(sock, 5.0)
        # Closed by the deadline, not at once: the server did wait for the headers.
        assert time.monotonic() - start >= TIMEOUT / 2


def test_a_body_that_never_finishes_is_cut_off(port: int) -> None:
    head = (
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Syncer-Secret: " + SECRET.encode() + b"\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        assert _closed_within(sock, 5.0)


def test_no_secret_is_refused_before_the_body(port: int) -> None:
    # The body is announced but never sent: the answer must not wait for it.
    answer = _request(port, b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401")


def test_a_body_announced_far_over_the_cap_is_refused_unread(port: int) -> None:
    head = (
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Syncer-Secret: " + SECRET.encode() + b"\r\n"
        b"Content-Length: 100000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        assert _closed_within(sock, 5.0)
