"""Every default an operator can set, numbers modules share, and the ``SYNCER_*`` readers.

What an operator sets is a flag's default or a ``SYNCER_*`` variable. A number
that one module reads and no operator sets belongs beside that module (the
backoff bounds of a loop, a cap of one parser), not here. Values come first,
by concern. The readers below them read the environment each time they are
called, so their callers decide when (the Celery app at import, the deadline
watchdog once per process, a tag step per task). A bad value raises
:class:`~syncer.errors.ConfigError`, one line naming the variable.
docs/environment.md lists them all, with their defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

from syncer.errors import ConfigError

#: Concurrent registry connections in one process (image-syncer's ``--proc``).
PROC = 5
#: Extra attempts for a failed image (image-syncer's ``--retries``).
RETRIES = 2
#: ``--prune`` refuses a run that would delete more tags than this (``--prune-max``).
PRUNE_MAX = 50
#: ``syncer webhook``: pushes within this many seconds of the first go out in one
#: plan, each tag once (a burst of events for one tag is one image).
WEBHOOK_COALESCE = 1.0
#: ``syncer webhook``'s default port.
WEBHOOK_PORT = 8088
#: Attempts for one transient request failure inside an operation.
REQUEST_ATTEMPTS = 5
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
#: Seconds one image may spend waiting on one registry in all: answers that
#: never came, backoff, Retry-After and throttle pauses, across retries (and
#: across ``syncer sync``'s rounds; per task in a fleet). One full request
#: deadline and a shorter second try: a silent registry cost an image five
#: deadlines, 5 minutes, before. ``$SYNCER_WAIT_BUDGET``.
WAIT_BUDGET = 90.0
#: A streamed body (a blob read or an upload) slower than this many bytes per
#: second over a whole window is cut off: a link 60 times slower than 1 MiB/s
#: still passes, a byte every few seconds does not. ``$SYNCER_MIN_RATE``.
MIN_RATE = 16 << 10
#: Seconds of streaming over which MIN_RATE is averaged; also the grace period
#: at the start of a stream. ``$SYNCER_RATE_WINDOW``.
RATE_WINDOW = 30.0
#: Tag-list page size requested with ``?n=``.
TAGS_PAGE = 1000

# Caps on what one response may make us hold in memory; a body past its cap is
# refused (ResponseTooLargeError), never read on. Blobs are streamed, not capped.
#: Largest manifest or index we read (``$SYNCER_MAX_MANIFEST``). The OCI
#: distribution spec says registries SHOULD accept manifests of at least 4 MiB,
#: which is the size a client can count on being able to push again.
MAX_MANIFEST = 4 << 20
#: Largest total of the manifests of one image tree (an index and every
#: manifest under it), all held in memory until the image is pushed
#: (``$SYNCER_MAX_TREE_BYTES``). Real trees are tens of KiB; without it, an
#: index of 100 distinct 4 MiB children held 425 MB.
MAX_TREE_BYTES = 64 << 20
#: Bytes of an error reply we read; the rest is dropped with the connection.
#: ``errors[]`` payloads are a few hundred bytes, and only 300 reach a message.
MAX_ERROR_BODY = 64 << 10
#: Largest ``index.json`` of an OCI image layout read from disk; it lists every
#: tag of the layout, so it is allowed more than a manifest.
MAX_LAYOUT_INDEX = 16 << 20
#: Most ``tags/list`` pages one listing follows (``$SYNCER_MAX_TAG_PAGES``).
MAX_TAG_PAGES = 10_000
#: Most tags one repository listing yields (``$SYNCER_MAX_TAGS``).
MAX_TAGS = 1_000_000
#: Bytes asked of the socket per read of a capped body: small enough that a
#: body is refused soon after it passes its cap, large enough to be cheap.
CAPPED_READ = 64 << 10
#: Most referrer jobs one image may hand out in all, across its subjects and
#: depths (``$SYNCER_MAX_IMAGE_REFERRERS``): without it, 200 per subject three
#: levels deep queued 58,400 jobs and pushed nothing.
MAX_IMAGE_REFERRERS = 1000

#: ``syncer sync`` logs how many images a long round has resolved every this many.
RESOLVE_REPORT_EVERY = 1000

# The fleet (``syncer plan`` and its workers).
#: Redis when neither ``--redis`` nor ``$SYNCER_REDIS_URL(_FILE)`` names one.
REDIS_URL = "redis://localhost:6379/0"
#: Plans, their counters and reports expire this long after their last update.
PLAN_TTL = 7 * 24 * 3600
#: A worker process pushes back the expiry of a plan's keys at most this often
#: (the counters' moves with every update; a short TTL is pushed back every
#: tenth of it): each update doing it cost a plan 6 Redis commands per step.
PLAN_KEEP_EVERY = 600
#: A task handed out this long ago and not acknowledged goes back to the queue
#: (kombu's visibility timeout), unless its worker has said since that it still
#: holds it: every worker re-stamps the deliveries it holds every
#: ``settings.visibility_refresh()`` seconds (``workers/visibility.py``). So a
#: live worker keeps a 30-minute stream to itself, and the task of a worker lost
#: to ``kill -9``, an OOM kill or a reboot runs elsewhere about a minute later.
#: ``$SYNCER_VISIBILITY_TIMEOUT``.
VISIBILITY_TIMEOUT = 60
#: Blobs of at most BATCH_BLOB bytes, up to BATCH_BYTES and BATCH_COUNT blobs
#: a batch, are copied by one ``copy_blobs`` task rather than a ``copy_blob`` task each:
#: a task costs several Redis round trips and events, about as much CPU as
#: copying a 1 MiB blob on a fast link. The small blobs of all the images of
#: one ``sync_tags`` task share batches. Batches run after every waiting
#: ``sync_tags`` (BATCH_PRIORITY), so large blobs are found and started first.
#: ``$SYNCER_BATCH_BLOB`` overrides the size; 0 gives every blob its own task.
BATCH_BLOB = 4 << 20
BATCH_BYTES = 16 << 20
#: At most this many blobs in one batch (an index of many tiny images).
BATCH_COUNT = 50
BATCH_PRIORITY = 8
#: How long a batch waits, in all, for its blobs another worker is uploading.
BATCH_BUSY_WAIT = 2.0
#: A fan-out sends its images as ``sync_tags`` tasks of this many: a task
#: costs Celery and Redis more CPU than a no-op image's two HEADs, so a mostly
#: unchanged repository is checked by the batch, not by the tag.
TAG_BATCH = 20
#: How many images of one ``sync_tags`` task are resolved at once (their HEADs
#: overlap on the worker's keep-alive connections), and how many blobs of one
#: ``copy_blobs`` task are copied at once. A worker keeps this many HTTP
#: connections per registry for each of its task slots.
TASK_THREADS = 4
#: How many plans' fixed settings a worker process keeps (the oldest read goes first).
PLAN_SETTINGS_KEPT = 256
#: Celery retries of a task that failed with a transient error.
MAX_RETRIES = 6
#: How long a task waits for Redis to come back before retrying through it.
REDIS_WAIT = 120.0

# The fleet's plans, roster and schedules.
#: ``syncer plans`` remembers at most this many plans (the newest; expired ones
#: drop out too): over a year of hourly plans, about a MiB of Redis.
PLAN_INDEX_MAX = 10_000
#: How often a worker's heartbeat says it is alive in the roster, in seconds.
HEARTBEAT_EVERY = 5.0
#: A worker not heard from for three heartbeats is not counted: one late
#: beat (a busy host, a Redis failover) does not make it vanish.
ALIVE_WINDOW = 3 * HEARTBEAT_EVERY
#: The beat looks for due entries at least this often (seconds): a new
#: schedule is noticed this soon, and a waiting beat tries the lock this often.
BEAT_MAX_INTERVAL = 5

# Following a plan (``status --follow``, ``plan --wait``), in seconds.
#: A plan whose counters have not moved for this long is reconciled against
#: its image records, so a count that drifted cannot hold it open.
FOLLOW_RECONCILE_AFTER = 30.0


def _env_number(name: str, parse: type[int] | type[float], least: int = 1) -> float | None:
    """``$name`` as a number; None when unset or empty.

    The one reader of every numeric ``SYNCER_*`` variable, with one message
    shape (``$NAME: '-1' is not a positive whole number``). Floats must be
    positive and finite; whole numbers at least ``least`` (0 or 1). A value
    that makes no sense (a negative timeout, infinity, NaN) is refused here, at
    start, rather than acted on later.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value: float = parse(text)
    except ValueError:
        value = float("nan")
    if parse is float:
        ok, what = 0 < value < float("inf"), "a positive number"
    else:
        ok = value >= least
        what = "a positive whole number" if least > 0 else "a whole number, 0 or more"
    if not ok:
        raise ConfigError(f"${name}: {text[:40]!r} is not {what}")
    return value


def _seconds(name: str, default: float) -> float:
    """``$name`` in seconds (more than nothing), else ``default``."""
    value = _env_number(name, float)
    return default if value is None else value


def _env_int(name: str, default: int, least: int = 1) -> int:
    """``$name`` as a whole number of at least ``least``, else ``default``."""
    value = _env_number(name, int, least)
    return default if value is None else int(value)


def request_deadline() -> float:
    """``$SYNCER_REQUEST_DEADLINE`` or :data:`REQUEST_DEADLINE`, in seconds."""
    return _seconds("SYNCER_REQUEST_DEADLINE", REQUEST_DEADLINE)


def wait_budget() -> float:
    """``$SYNCER_WAIT_BUDGET`` or :data:`WAIT_BUDGET`, in seconds."""
    return _seconds("SYNCER_WAIT_BUDGET", WAIT_BUDGET)


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


def max_manifest() -> int:
    """``$SYNCER_MAX_MANIFEST`` (bytes) or :data:`MAX_MANIFEST`."""
    return _env_int("SYNCER_MAX_MANIFEST", MAX_MANIFEST)


def max_layout_index() -> int:
    """``$SYNCER_MAX_LAYOUT_INDEX`` (bytes) or :data:`MAX_LAYOUT_INDEX`."""
    return _env_int("SYNCER_MAX_LAYOUT_INDEX", MAX_LAYOUT_INDEX)


def max_tree_bytes() -> int:
    """``$SYNCER_MAX_TREE_BYTES`` or :data:`MAX_TREE_BYTES`."""
    return _env_int("SYNCER_MAX_TREE_BYTES", MAX_TREE_BYTES)


def max_image_referrers() -> int:
    """``$SYNCER_MAX_IMAGE_REFERRERS`` or :data:`MAX_IMAGE_REFERRERS`."""
    return _env_int("SYNCER_MAX_IMAGE_REFERRERS", MAX_IMAGE_REFERRERS)


def max_tag_pages() -> int:
    """``$SYNCER_MAX_TAG_PAGES`` or :data:`MAX_TAG_PAGES`."""
    return _env_int("SYNCER_MAX_TAG_PAGES", MAX_TAG_PAGES)


def max_tags() -> int:
    """``$SYNCER_MAX_TAGS`` or :data:`MAX_TAGS`."""
    return _env_int("SYNCER_MAX_TAGS", MAX_TAGS)


def check_limits() -> None:
    """Raise :class:`ConfigError` now for a bad ``$SYNCER_MAX_*`` or budget, not later per image."""
    wait_budget()
    max_manifest()
    max_tree_bytes()
    max_image_referrers()
    max_tag_pages()
    max_tags()
    prune_max()


def batch_blob() -> int:
    """``$SYNCER_BATCH_BLOB`` or :data:`BATCH_BLOB`: the largest blob sent in a batch."""
    return _env_int("SYNCER_BATCH_BLOB", BATCH_BLOB, least=0)


def visibility_timeout() -> int:
    """``$SYNCER_VISIBILITY_TIMEOUT`` or :data:`VISIBILITY_TIMEOUT`, in seconds.

    A task whose worker died outright (``kill -9`` of the whole process) is
    handed to another worker once this has passed since the dead worker last
    re-stamped it. A task redelivered anyway (clocks apart by more than this)
    is harmless: the in-flight lock makes it wait, the destination check makes
    it a no-op.
    """
    return _env_int("SYNCER_VISIBILITY_TIMEOUT", VISIBILITY_TIMEOUT)


def worker_concurrency() -> int | None:
    """``$SYNCER_WORKER_CONCURRENCY`` (``syncer worker -p N`` sets it), if set.

    Plain ``celery worker -c N`` does not set it; the worker then falls back to
    Celery's concurrency, whose default is :data:`PROC`.
    """
    value = _env_number("SYNCER_WORKER_CONCURRENCY", int)
    return None if value is None else int(value)


#: Port of ``syncer metrics`` (plan-level gauges); workers serve on ``--metrics-port`` only.
METRICS_PLAN_PORT = 9809
#: Where metrics listen unless told otherwise: loopback. A container sets 0.0.0.0.
METRICS_ADDR = "127.0.0.1"


def metrics_addr() -> str:
    """``$SYNCER_METRICS_ADDR``, else loopback."""
    return os.environ.get("SYNCER_METRICS_ADDR") or METRICS_ADDR


def metrics_listen() -> tuple[str, int] | None:
    """``($SYNCER_METRICS_ADDR, $SYNCER_METRICS_PORT)``, or None when no port is set."""
    port = _env_number("SYNCER_METRICS_PORT", int)
    if port is None:
        return None
    if port > 65535:
        raise ConfigError(f"$SYNCER_METRICS_PORT: {port:g} is not a TCP port (1 to 65535)")
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
    return url or _file_named_by("SYNCER_REDIS_URL_FILE") or REDIS_URL


def prune_max() -> int:
    """``$SYNCER_PRUNE_MAX`` or :data:`PRUNE_MAX`: the default of ``--prune-max``."""
    return _env_int("SYNCER_PRUNE_MAX", PRUNE_MAX)


def webhook_secret() -> str | None:
    """``$SYNCER_WEBHOOK_SECRET``, else what ``$SYNCER_WEBHOOK_SECRET_FILE`` holds, else None."""
    secret = os.environ.get("SYNCER_WEBHOOK_SECRET", "").strip()
    return secret or _file_named_by("SYNCER_WEBHOOK_SECRET_FILE")


def _file_named_by(name: str) -> str | None:
    """What the file ``$name`` names holds (its first 4 KiB, stripped); None when unset.

    A secret in a file (mounted, mode 0600) stays out of ``ps`` and the
    environment. A file that cannot be read, or is empty, is one line naming both.
    """
    path = os.environ.get(name)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(4096).strip()
    except OSError as exc:
        raise ConfigError(f"{name} {path}: {exc.strerror}") from None
    if not text:
        raise ConfigError(f"{name} {path}: empty")
    return text
