"""Every default syncer uses, in one place."""

from __future__ import annotations

import os
from pathlib import Path

from syncer.errors import ConfigError

#: Concurrent registry connections in one process (image-syncer's ``--proc``).
PROC = 5
#: Extra attempts for a failed image (image-syncer's ``--retries``).
RETRIES = 2
#: Attempts for one transient request failure inside an operation.
REQUEST_ATTEMPTS = 5
#: First backoff delay in seconds; doubles per attempt, with full jitter.
BACKOFF_BASE = 0.5
#: Longest single backoff, and the longest Retry-After we honour, in seconds.
BACKOFF_MAX = 60.0

#: Bytes read from the source per iteration while streaming a blob.
STREAM_CHUNK = 1 << 20
#: The smallest socket read, and the size of each write, of a streamed body:
#: small enough that a stream at the minimum rate shows progress several times
#: per window (a 1 MiB read at 16 KiB/s would outlast it). Reads grow towards
#: STREAM_CHUNK while the body comes fast, and are joined into STREAM_CHUNK
#: pieces, which keeps hashing and uploading cheap.
STREAM_STEP = 64 << 10
#: Blobs at or above this size are uploaded in PATCH chunks that can resume.
CHUNKED_THRESHOLD = 64 << 20
#: Size of one PATCH when uploading in chunks.
UPLOAD_CHUNK = 32 << 20

#: (connect, read) timeouts for one socket operation, in seconds. A drip
#: defeats a per-read timeout, so the deadlines below do the real work and the
#: read timeout is only a backstop.
TIMEOUT = (10.0, 120.0)
#: Seconds a registry has to answer a request: to send its status, headers and
#: (unless streamed) body, or to answer once an upload body was sent. Registry
#: answers take well under a second; 60 s leaves room for a registry under load
#: or committing a large upload, and halves what a silent server used to cost
#: (the 120 s read timeout) on every attempt. ``$SYNCER_REQUEST_DEADLINE``.
REQUEST_DEADLINE = 60.0
#: A streamed body (a blob read or an upload) slower than this many bytes per
#: second over a whole window is cut off: a link 60 times slower than 1 MiB/s
#: still passes, a byte every few seconds does not. ``$SYNCER_MIN_RATE``.
MIN_RATE = 16 << 10
#: Seconds of streaming over which MIN_RATE is averaged; also the grace period
#: at the start of a stream. ``$SYNCER_RATE_WINDOW``.
RATE_WINDOW = 30.0
#: After SIGINT or SIGTERM, ``syncer sync`` exits at the latest this many
#: seconds later, even if some thread cannot be woken (a DNS lookup).
STOP_GRACE = 3.0
#: Tag-list page size requested with ``?n=``.
TAGS_PAGE = 1000
#: Longest wait for a ``docker-credential-*`` helper to answer, in seconds.
CREDENTIAL_HELPER_TIMEOUT = 30.0

# Caps on what one response may make us hold in memory; a body past its cap is
# refused (ResponseTooLargeError), never read on. Blobs are streamed, not capped.
#: Largest manifest or index we read (``$SYNCER_MAX_MANIFEST``). The OCI
#: distribution spec says registries SHOULD accept manifests of at least 4 MiB,
#: which is the size a client can count on being able to push again.
MAX_MANIFEST = 4 << 20
#: Bytes of an error reply we read; the rest is dropped with the connection.
#: ``errors[]`` payloads are a few hundred bytes, and only 300 reach a message.
MAX_ERROR_BODY = 64 << 10
#: Largest token reply: real ones are JWTs of a few KiB (ECR's up to ~10 KiB).
MAX_TOKEN_REPLY = 1 << 20
#: Largest ``tags/list`` page. We ask for TAGS_PAGE tags (~100 KiB of JSON),
#: but registries may ignore ``?n=``: 8 MiB holds ~300k short tags, more than
#: any real single-page answer we have seen (Docker Hub caps pages at 10k).
MAX_TAGS_PAGE = 8 << 20
#: Most ``tags/list`` pages one listing follows (``$SYNCER_MAX_TAG_PAGES``).
MAX_TAG_PAGES = 10_000
#: Most tags one repository listing yields (``$SYNCER_MAX_TAGS``).
MAX_TAGS = 1_000_000


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"${name}: {text[:40]!r} is not a positive number")
    return value


def request_deadline() -> float:
    """``$SYNCER_REQUEST_DEADLINE`` or :data:`REQUEST_DEADLINE`, in seconds."""
    return _seconds("SYNCER_REQUEST_DEADLINE", REQUEST_DEADLINE)


def min_rate() -> float:
    """``$SYNCER_MIN_RATE`` or :data:`MIN_RATE`, in bytes per second."""
    return _seconds("SYNCER_MIN_RATE", MIN_RATE)


def rate_window() -> float:
    """``$SYNCER_RATE_WINDOW`` or :data:`RATE_WINDOW`, in seconds."""
    return _seconds("SYNCER_RATE_WINDOW", RATE_WINDOW)


def cache_dir() -> Path:
    """The user cache directory: ``$XDG_CACHE_HOME/syncer`` or ``~/.cache/syncer``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "syncer"


def blob_cache_file() -> Path:
    """Where the embedded blob cache lives unless ``--cache`` says otherwise."""
    return cache_dir() / "blobs.json"


def _env_int(name: str, default: int) -> int:
    """``$name`` as a positive integer, else ``default``; a bad value is a ConfigError."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise ConfigError(f"${name} must be a positive whole number, not {text[:40]!r}")
    return int(text)


def max_manifest() -> int:
    """``$SYNCER_MAX_MANIFEST`` (bytes) or :data:`MAX_MANIFEST`."""
    return _env_int("SYNCER_MAX_MANIFEST", MAX_MANIFEST)


def max_tag_pages() -> int:
    """``$SYNCER_MAX_TAG_PAGES`` or :data:`MAX_TAG_PAGES`."""
    return _env_int("SYNCER_MAX_TAG_PAGES", MAX_TAG_PAGES)


def max_tags() -> int:
    """``$SYNCER_MAX_TAGS`` or :data:`MAX_TAGS`."""
    return _env_int("SYNCER_MAX_TAGS", MAX_TAGS)


def check_limits() -> None:
    """Raise :class:`ConfigError` now for a bad ``$SYNCER_MAX_*``, not later per image."""
    max_manifest()
    max_tag_pages()
    max_tags()


#: Largest image config blob read to learn a single image's platform for
#: ``--os``/``--arch``; real configs are a few KiB.
CONFIG_BLOB_MAX = 4 << 20
#: Config blobs whose platform is remembered per process, by digest.
PLATFORM_CACHE_SIZE = 4096
#: Config blobs read at once to rank a rule's tags by created time for ``latest:``.
CREATED_READS = 8

#: How deep referrers of referrers are followed (a signature of an SBOM is depth 2).
REFERRERS_DEPTH = 3
#: Most referrers one subject may list; a longer list is refused, not truncated.
MAX_REFERRERS = 1000
