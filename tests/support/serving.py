"""The lifecycle the test servers, relays and proxies share: ``with`` starts and stops them."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import TypeVar

_S = TypeVar("_S", bound="Started")


class Started:
    """``with thing:`` calls ``start()`` on entry and ``stop()`` on exit."""

    def start(self) -> object:
        """Begin serving."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and release what ``start`` took."""
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServedInThread(Started):
    """A ``ThreadingHTTPServer`` that ``start`` runs on a thread of its own."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the serving thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None
