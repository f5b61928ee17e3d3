"""The one error tree of syncer.

::

    SyncerError
    ├── ConfigError                 bad config file, key, flag or reference (exit 2;
    │                               one bad entry fails only its own images)
    ├── CacheError                  the blob cache could not be read or written
    ├── StateError                  the fleet's Redis state is unreachable              [transient]
    ├── CancelledError              the plan was cancelled while work was in flight
    ├── MessageError                a task body or image record that does not decode
    └── RegistryError               anything a registry or the network did wrong
        ├── TransportError          connection reset, refused, DNS, timeout        [transient]
        │   ├── TLSHandshakeError   TLS broke off without a certificate problem    [transient]
        │   └── DeadlineError       no answer in time, or a body too slow          [transient]
        ├── TLSError                TLS handshake or certificate verification failed
        ├── DigestMismatchError     bytes did not hash to the digest they claimed
        ├── UnsupportedError        a manifest or media type we cannot copy
        ├── ResponseTooLargeError   a reply went past its size cap (defaults.MAX_*)
        ├── BadNameError            a server sent a tag or link outside the grammar
        ├── PaginationError         tags/list paging looped, left the repo, or ran past its cap
        ├── LayoutError             an OCI image layout or archive on disk is malformed,
        │                           unwritable, or being written by another process
        ├── WaitBudgetError         an image waited its whole budget on one registry
        └── HTTPError               the registry answered with an error status
            ├── AuthError           401/403: denied, or the token flow failed
            ├── NotFoundError       404: manifest, blob or repository unknown
            ├── RateLimitedError    429 Too Many Requests                        [transient]
            └── ServerError         5xx                                          [transient]

Exceptions from ``requests`` are translated into this tree in exactly one
place, :mod:`syncer.registry.transport`, and chained with ``from exc``.
:data:`TRANSIENT` names the errors that may be retried; everything else is
permanent and is reported, never retried.
"""

from __future__ import annotations

from typing import Any


class SyncerError(Exception):
    """Root of every error syncer raises on purpose."""


class ConfigError(SyncerError):
    """The configuration, a flag or an image reference is invalid."""


class CacheError(SyncerError):
    """The blob cache could not be read or written."""


class StateError(SyncerError):
    """The fleet's shared state (Redis) could not be reached; worth retrying."""


class CancelledError(SyncerError):
    """The work was cancelled before it finished."""


class MessageError(SyncerError):
    """A task body that does not decode: a field missing or of the wrong type."""


class RegistryError(SyncerError):
    """A registry operation failed."""


class TransportError(RegistryError):
    """The connection failed before a complete answer arrived."""


class TLSHandshakeError(TransportError):
    """The TLS handshake broke off (EOF, reset, not TLS at all): retryable."""


class DeadlineError(TransportError):
    """A wait outlived its deadline: no answer in time, or a body slower than the minimum."""


class TLSError(RegistryError):
    """The TLS handshake or certificate verification failed."""


class DigestMismatchError(RegistryError):
    """Content did not hash to the digest (or size) its descriptor claims."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch for {what}: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class UnsupportedError(RegistryError):
    """The manifest or media type cannot be copied."""


class ResponseTooLargeError(RegistryError):
    """A reply was larger than the cap we hold for its kind; it was not read on."""


class BadNameError(RegistryError):
    """A registry sent a tag or repository name outside the reference grammar."""


class PaginationError(RegistryError):
    """A ``tags/list`` listing looped, left its repository, or ran past its caps."""


class LayoutError(RegistryError):
    """An OCI image layout or archive on disk is malformed, unwritable or busy."""


class WaitBudgetError(RegistryError):
    """An image has waited on one registry as long as it may (``SYNCER_WAIT_BUDGET``)."""


class HTTPError(RegistryError):
    """The registry answered with an error status.

    Keeps the status, method, URL (never credentials: URLs we build carry
    none) and the registry's ``errors[]`` payload from the distribution spec.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str = "",
        url: str = "",
        errors: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.url = url
        self.errors = errors or []
        self.retry_after = retry_after

    @property
    def codes(self) -> list[str]:
        """The registry's error codes, e.g. ``["MANIFEST_UNKNOWN"]``."""
        return [str(e.get("code", "")) for e in self.errors if e.get("code")]


class AuthError(HTTPError):
    """The registry refused our credentials or the token flow failed."""


class NotFoundError(HTTPError):
    """The manifest, blob or repository does not exist."""


class RateLimitedError(HTTPError):
    """The registry asked us to slow down (429)."""


class ServerError(HTTPError):
    """The registry failed internally (5xx)."""


#: Errors worth retrying with backoff. Everything else is permanent.
TRANSIENT: tuple[type[SyncerError], ...] = (
    TransportError,
    RateLimitedError,
    ServerError,
    StateError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may succeed if retried."""
    return isinstance(exc, TRANSIENT)


def describe(exc: BaseException) -> str:
    """A one-line reason for a failure report: the message with its whitespace folded."""
    return " ".join(str(exc).split()) or type(exc).__name__
