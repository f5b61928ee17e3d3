"""A bandwidth-capped TCP relay, to make a loopback transfer last long enough to cancel.

:class:`ThrottledRelay` forwards raw bytes between clients and one upstream
(a lab registry), so HTTP, ``Host`` headers and keep-alive pass untouched.
Bytes flowing back to clients share one pace of ``rate`` bytes per second;
:attr:`ThrottledRelay.relayed` counts them, so a test can see a stream stop.
"""

from __future__ import annotations

import socket
import threading
import time

from tests.support.serving import Started

PIECE = 64 * 1024


class _Pace:
    """Spaces pieces so that all of them together flow at ``rate`` bytes per second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self, n: int) -> None:
        with self._lock:
            start = max(self._next, time.monotonic())
            self._next = start + n / self.rate
            due = self._next
        time.sleep(max(0.0, due - time.monotonic()))


class ThrottledRelay(Started):
    """Listens on a free 127.0.0.1 port and relays to ``upstream`` (``host:port``)."""

    def __init__(self, upstream: str, rate: float) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self._pace = _Pace(rate)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = False
        self.relayed = 0

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as in image references."""
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> None:
        """Accept connections on a background thread."""
        self._listener.listen(64)
        self._spawn(self._accept)

    def stop(self) -> None:
        """Close every socket and wait for the relay threads."""
        self._stopping = True
        _close(self._listener)
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)
        for thread in list(self._threads):
            thread.join(5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                return
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            self._spawn(self._pump, client, upstream, False)
            self._spawn(self._pump, upstream, client, True)

    def _pump(self, src: socket.socket, dst: socket.socket, throttled: bool) -> None:
        try:
            while True:
                piece = src.recv(PIECE)
                if not piece:
                    break
                if throttled:
                    self._pace.wait(len(piece))
                dst.sendall(piece)
                if throttled:
                    with self._lock:
                        self.relayed += len(piece)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                _close(sock)
                with self._lock:
                    self._sockets.discard(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
