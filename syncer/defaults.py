"""Every default syncer uses, and the one reader of each ``SYNCER_*`` variable.

Values come first, by concern. The readers below them read the environment
each time they are called, so their callers decide when (the Celery app at
import, the deadline watchdog once per process, a tag step per task). A bad
value raises :class:`~syncer.errors.ConfigError`, one line naming the variable.
README's "Environment variables" table lists them all.
"""

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

# The fleet (``syncer plan`` and its workers).
#: Redis when neither ``--redis`` nor ``$SYNCER_REDIS_URL(_FILE)`` names one.
REDIS_URL = "redis://localhost:6379/0"
#: Plans, their counters and reports expire this long after their last update.
PLAN_TTL = 7 * 24 * 3600
#: A task handed out this long ago and not acknowledged goes back to the queue
#: (kombu's visibility timeout), unless its worker has said since that it still
#: holds it: every worker re-stamps the deliveries it holds every
#: ``settings.visibility_refresh()`` seconds (``workers/visibility.py``). So a
#: live worker keeps a 30-minute stream to itself, and the task of a worker lost
#: to ``kill -9``, an OOM kill or a reboot runs elsewhere about a minute later.
#: ``$SYNCER_VISIBILITY_TIMEOUT``.
VISIBILITY_TIMEOUT = 60
#: An image's blobs of at most BATCH_BLOB bytes, up to BATCH_BYTES per image,
#: are copied by one ``copy_blobs`` task rather than a ``copy_blob`` task each:
#: a task costs several Redis round trips and events, about as much CPU as
#: copying a 1 MiB blob on a fast link. Batches run after every waiting
#: ``sync_tag`` (BATCH_PRIORITY), so large blobs are found and started first.
#: ``$SYNCER_BATCH_BLOB`` overrides the size; 0 gives every blob its own task.
BATCH_BLOB = 4 << 20
BATCH_BYTES = 16 << 20
#: At most this many blobs in one batch (an index of many tiny images).
BATCH_COUNT = 50
BATCH_PRIORITY = 8
#: How long a batch waits, in all, for its blobs another worker is uploading.
BATCH_BUSY_WAIT = 2.0
#: A fan-out larger than this is split into ``enqueue_tags`` tasks of this many
#: images, so several workers publish a 50k-tag repository in parallel.
FANOUT_CHUNK = 250
#: Celery retries of a task that failed with a transient error.
MAX_RETRIES = 6
#: How long a task waits for Redis to come back before retrying through it.
REDIS_WAIT = 120.0
#: Looking again at a blob another worker is uploading: 0.1 s, doubling to 2 s.
BUSY_FIRST, BUSY_MAX = 0.1, 2.0
#: A blob this big keeps a link busy long enough to be worth keeping to itself.
LARGE_BLOB = 64 << 20
#: How many times a small copy is handed on before a busy worker takes it.
MAX_DEFERRALS = 3
#: How often a working worker says it is alive.
ALIVE_EVERY = 5.0


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


def _whole(name: str) -> int | None:
    """``$name`` read as ``int()`` reads it (any sign), or None when unset or empty."""
    text = os.environ.get(name, "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"${name} must be a whole number, not {text[:40]!r}") from None


def batch_blob() -> int:
    """``$SYNCER_BATCH_BLOB`` or :data:`BATCH_BLOB`: the largest blob sent in a batch."""
    value = _whole("SYNCER_BATCH_BLOB")
    return BATCH_BLOB if value is None else value


def visibility_timeout() -> int:
    """``$SYNCER_VISIBILITY_TIMEOUT`` or :data:`VISIBILITY_TIMEOUT`, in seconds.

    A task whose worker died outright (``kill -9`` of the whole process) is
    handed to another worker once this has passed since the dead worker last
    re-stamped it. A task redelivered anyway (clocks apart by more than this)
    is harmless: the in-flight lock makes it wait, the destination check makes
    it a no-op.
    """
    value = _whole("SYNCER_VISIBILITY_TIMEOUT")
    return VISIBILITY_TIMEOUT if value is None else value


def worker_concurrency() -> int | None:
    """``$SYNCER_WORKER_CONCURRENCY`` (``syncer worker -p N`` sets it), if set.

    Plain ``celery worker -c N`` does not set it; the worker then falls back to
    Celery's concurrency, whose default is :data:`PROC`.
    """
    return _whole("SYNCER_WORKER_CONCURRENCY")


#: Port of ``syncer metrics`` (plan-level gauges); workers serve on ``--metrics-port`` only.
METRICS_PLAN_PORT = 9809
#: Where metrics listen unless told otherwise: loopback. A container sets 0.0.0.0.
METRICS_ADDR = "127.0.0.1"


def metrics_addr() -> str:
    """``$SYNCER_METRICS_ADDR``, else loopback."""
    return os.environ.get("SYNCER_METRICS_ADDR") or METRICS_ADDR


def metrics_listen() -> tuple[str, int] | None:
    """``($SYNCER_METRICS_ADDR, $SYNCER_METRICS_PORT)``, or None when no port is set."""
    port = os.environ.get("SYNCER_METRICS_PORT", "")
    if not port:
        return None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"SYNCER_METRICS_PORT must be a TCP port, got {port!r}")
    return metrics_addr(), int(port)


def auth_file() -> Path | None:
    """``$SYNCER_AUTH_FILE``: the worker's own auth file, if set."""
    value = os.environ.get("SYNCER_AUTH_FILE")
    return Path(value) if value else None


def redis_url(explicit: str | None = None) -> str:
    """``--redis``, else ``$SYNCER_REDIS_URL``, else ``$SYNCER_REDIS_URL_FILE``, else the default.

    A password in ``--redis`` shows in ``ps``; the file keeps it out of the
    process table and the environment (a mounted secret, mode 0600).
    """
    url = explicit or os.environ.get("SYNCER_REDIS_URL")
    if url:
        return url
    path = os.environ.get("SYNCER_REDIS_URL_FILE")
    if not path:
        return REDIS_URL
    try:
        with open(path, encoding="utf-8") as f:
            url = f.read(4096).strip()
    except OSError as exc:
        raise ConfigError(f"SYNCER_REDIS_URL_FILE {path}: {exc.strerror}") from None
    if not url:
        raise ConfigError(f"SYNCER_REDIS_URL_FILE {path}: empty")
    return url
