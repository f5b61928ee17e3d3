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
#: The most ``--proc`` runs with: each slot sizes connection pools up front, and
#: image-syncer's lazy Go pool takes any number.
MAX_PROC = 1000
#: Extra attempts for a failed image (image-syncer's ``--retries``).
RETRIES = 2
#: ``--prune`` refuses a run that would delete more tags than this (``--prune-max``).
PRUNE_MAX = 50
#: ``syncer webhook``: the largest request body read, in bytes (Harbor's and
#: Docker Hub's events are a few KiB; distribution batches up to a few dozen).
WEBHOOK_MAX_BODY = 256 << 10
#: ``syncer webhook``: seconds a client has to send its whole request.
WEBHOOK_REQUEST_TIMEOUT = 10.0
#: ``syncer webhook``: pushes within this many seconds of the first go out in one
#: plan, each tag once (a burst of events for one tag is one image).
WEBHOOK_COALESCE = 1.0
#: ``syncer webhook``'s default port.
WEBHOOK_PORT = 8088
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
#: After SIGINT or SIGTERM, ``syncer sync`` exits at the latest this many
#: seconds later, even if some thread cannot be woken (a DNS lookup).
STOP_GRACE = 3.0
#: Tag-list page size requested with ``?n=``.
TAGS_PAGE = 1000
#: Longest wait for a ``docker-credential-*`` helper to answer, in seconds.
CREDENTIAL_HELPER_TIMEOUT = 30.0

# Talking to one registry: tokens, rate limits, broken streams, deadlines.
#: Refresh a Bearer token this many seconds before it says it expires, so a
#: request sent just before the end does not arrive with a dead token.
TOKEN_EXPIRY_MARGIN = 10.0
#: A token's lifetime in seconds when the issuer omits ``expires_in``: the
#: token spec's own default (distribution's ``spec/auth/token.md``).
TOKEN_LIFETIME = 60.0
#: Longest token lifetime we believe, in seconds: registries issue 5 minutes
#: (distribution) to 12 hours (ECR); a larger or non-finite ``expires_in``
#: would keep a revoked token forever.
MAX_TOKEN_LIFETIME = 86400.0
#: Longest ``WWW-Authenticate`` value we parse, in characters. Real challenges
#: are under 300 (Docker Hub's, with a scope, is about 120); a longer one is
#: refused before any parsing, since every server, credentials or not, can send one.
MAX_CHALLENGE = 4096
#: Pause a registry when ``ratelimit-remaining`` drops to this many pulls or
#: fewer, so the last pulls of a window are spread out rather than spent at once.
RATELIMIT_LOW_WATER = 5
#: Seconds to pause a registry that said 429 without a Retry-After; at the low
#: water mark, each pull fewer left adds this again.
RATELIMIT_PAUSE = 5.0
#: Times one blob read may reopen a broken source stream (resuming where it
#: broke): enough for a flaky link, few enough that a source that always
#: breaks fails the copy soon rather than retrying it forever.
SOURCE_REOPENS = 5
#: Index nesting deeper than this is malformed: real images nest once (an
#: index of manifests), and a chain of indexes built to recurse must end.
MAX_DEPTH = 4
#: Entries one index may list. Real indexes name a few dozen platforms and
#: their attestations; one 4 MiB index could name about 28,000.
MAX_INDEX_CHILDREN = 1024
#: Index entries walked in one image tree, duplicates included: with
#: MAX_INDEX_CHILDREN, this bounds the walk's work and its GETs however the
#: indexes nest or repeat themselves.
MAX_TREE_CHILDREN = 4096
#: Seconds between two sweeps of the request deadlines: a deadline fires at
#: most this late, a fraction of any deadline, and idle sweeps cost nothing.
DEADLINE_TICK = 0.2

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
#: Most entries one layout's ``index.json`` may list.
MAX_LAYOUT_ENTRIES = 100_000
#: Largest export record (``syncer sync --since FILE``) read back.
MAX_EXPORT_RECORD = 256 << 20
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
#: Bytes asked of the socket per read of a capped body: small enough that a
#: body is refused soon after it passes its cap, large enough to be cheap.
CAPPED_READ = 64 << 10
#: Entries of an ``errors[]`` payload kept on an error; registries send one or two.
MAX_ERRORS_KEPT = 5

#: Largest image config blob read to learn a single image's platform for
#: ``--os``/``--arch``; real configs are a few KiB.
CONFIG_BLOB_MAX = 4 << 20
#: Config blobs whose platform is remembered per process, by digest.
PLATFORM_CACHE_SIZE = 4096
#: Config blobs read at once to rank a rule's tags by created time for ``latest:``.
CREATED_READS = 8
#: Compiled tag patterns kept per process; rules are few and reused for every tag.
TAG_PATTERN_CACHE = 256

# ``syncer sync``'s own loop, and the supervisor of ``syncer worker``.
#: Jobs listed ahead of the thread pool: enough to keep every thread busy,
#: few enough that a huge listing is not held in memory.
FEED_AHEAD = 256
#: How often a blocked lister or copier looks at the stop flag, in seconds:
#: well inside STOP_GRACE, so Ctrl-C is felt at once.
FEED_POLL = 0.1
#: Log how many images a long round has resolved every this many.
RESOLVE_REPORT_EVERY = 1000
#: A crashed worker is restarted after RESTART_FIRST seconds, doubling up to
#: RESTART_MAX, so a worker that cannot start does not spin; one that ran for
#: RESTART_HEALTHY seconds was healthy, and starts the delays over.
RESTART_FIRST, RESTART_MAX, RESTART_HEALTHY = 1.0, 30.0, 60.0

#: How deep referrers of referrers are followed (a signature of an SBOM is depth 2).
REFERRERS_DEPTH = 3
#: Most referrers one subject may list; a longer list is refused, not truncated.
MAX_REFERRERS = 1000
#: Most referrer jobs one image may hand out in all, across its subjects and
#: depths (``$SYNCER_MAX_IMAGE_REFERRERS``): without it, 200 per subject three
#: levels deep queued 58,400 jobs and pushed nothing.
MAX_IMAGE_REFERRERS = 1000
#: Referrer followers kept per worker, one per recent plan: each caches its plan's tag listings.
REFERRER_FOLLOWERS_KEPT = 8
#: Longest wait for another worker's merge of the same fallback index, in seconds.
REFERRER_MERGE_WAIT = 60.0

# Metrics.
#: How many of the newest plans get gauge series of their own (bounded label cardinality).
GAUGE_RECENT_PLANS = 20
#: Seconds of streamed bytes a worker's current throughput is averaged over.
THROUGHPUT_WINDOW = 10.0
#: Task latency buckets, in seconds: from a HEAD-only skip to a multi-GiB layer.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)

# The fleet (``syncer plan`` and its workers).
#: Redis when neither ``--redis`` nor ``$SYNCER_REDIS_URL(_FILE)`` names one.
REDIS_URL = "redis://localhost:6379/0"
#: Every Redis client syncer makes (``fleet/protocol/redisclient.py``): seconds to
#: connect, and to wait for one reply (no call syncer makes blocks for long).
REDIS_CONNECT_TIMEOUT, REDIS_SOCKET_TIMEOUT = 5.0, 10.0
#: A failed connection is tried again this many times, REDIS_RETRY_DELAY s
#: apart, inside one call: once is enough for a pooled connection a restarted
#: Redis had closed. More would only delay the line that says Redis is away
#: (redis-py's own default, 10 with backoff, made one call take 3.6 s).
REDIS_RETRIES, REDIS_RETRY_DELAY = 1, 0.1
#: A connection idle this long is checked with a PING before it is used.
REDIS_HEALTH_CHECK = 30
#: While Redis is away, the workers and the followers of a plan try it again
#: after REDIS_RECONNECT_FIRST seconds, doubling up to REDIS_RECONNECT_MAX.
REDIS_RECONNECT_FIRST, REDIS_RECONNECT_MAX = 0.25, 4.0
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
#: Seconds kombu's lock on its sweep for abandoned messages lives (its default,
#: 300, let one killed worker stop every sweep for five minutes).
UNACKED_SWEEP_LOCK = 5
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
#: A fan-out of more than FANOUT_DIRECT images is split into ``enqueue_tags``
#: tasks of FANOUT_CHUNK images, so several workers publish a 50k-tag
#: repository in parallel (publishing costs about a millisecond a message).
FANOUT_DIRECT = 2000
FANOUT_CHUNK = 250
#: How many plans' fixed settings a worker process keeps (the oldest read goes first).
PLAN_SETTINGS_KEPT = 256
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
#: How often a working worker says it is alive to the link scheduler.
ALIVE_EVERY = 5.0
#: A worker whose link said it was alive longer ago than this is not an idle
#: peer to hand copies to. It says so per task (at most every ALIVE_EVERY), so
#: this is "ran a task lately", not the roster's ALIVE_WINDOW ("process is up"):
#: a worker idle at an empty queue is up but not a peer worth waiting on.
PEER_ALIVE_WINDOW = 30.0
#: Seconds a worker holds a task it is too old for before requeueing it for a
#: newer worker, so old workers do not pass it between them in a tight loop.
REQUEUE_DELAY = 5.0
#: Look at the worker's auth file's metadata at most this often, in seconds: a
#: rotated secret is seen within a second, without a stat() per request.
AUTH_RECHECK = 1.0
#: An in-flight lock whose release failed (Redis away) is released again after
#: RELEASE_RETRY_FIRST seconds, doubling up to RELEASE_RETRY_MAX, until it expires.
RELEASE_RETRY_FIRST, RELEASE_RETRY_MAX = 0.2, 2.0
#: An upload session idle longer than this (seconds) is not worth resuming:
#: an hour outlasts a worker restart or a Redis blip mid-upload, and then the
#: blob is simply uploaded afresh.
UPLOAD_SESSION_TTL = 3600

# The fleet's plans, roster and schedules.
#: ``syncer plans`` remembers at most this many plans (the newest; expired ones
#: drop out too): over a year of hourly plans, about a MiB of Redis.
PLAN_INDEX_MAX = 10_000
#: ``syncer plans`` reads the index this many plans per round trip.
PLAN_INDEX_PAGE = 200
#: How often a worker's heartbeat says it is alive in the roster, in seconds.
HEARTBEAT_EVERY = 5.0
#: A worker not heard from for three heartbeats is not counted: one late
#: beat (a busy host, a Redis failover) does not make it vanish.
ALIVE_WINDOW = 3 * HEARTBEAT_EVERY
#: Seconds ``syncer probe`` waits for Redis to connect and to answer: well
#: inside a Kubernetes probe's own timeout, so a hung Redis fails with a reason.
PROBE_TIMEOUT = 5.0
#: Roster entries older than this (seconds) are removed by whoever reads it,
#: so the hash does not keep every worker that ever ran; a day is far past
#: ALIVE_WINDOW, so no live worker is ever removed.
FORGET_AFTER = 24 * 3600.0
#: How long one start may hold a schedule, in seconds: enough to enqueue
#: thousands of tags (a second start meanwhile would not yet see the new plan),
#: and the longest a worker that died mid-start keeps the schedule from starting.
SCHEDULE_STARTING_TTL = 300
#: The beat looks for due entries at least this often (seconds): a new
#: schedule is noticed this soon, and a waiting beat tries the lock this often.
BEAT_MAX_INTERVAL = 5
#: ``syncer beat --schedules FILE`` looks at the file, and at the schedules
#: Redis holds, this often (seconds): an edit, or a Redis that lost them, is
#: put right this soon.
BEAT_RECONCILE_EVERY = 5.0
#: A beat killed outright holds the lock this long (seconds) before another
#: takes over: six BEAT_MAX_INTERVALs, so a live beat, which renews it every
#: loop, keeps it through a few slow loops.
BEAT_LOCK_TIMEOUT = 30
#: A cron tick not picked up by a worker within a minute, a cron schedule's
#: shortest period, is dropped: the next tick replaces it.
CRON_EXPIRES = 60
#: Ticks go ahead of the copies waiting in the queue (0 is served first).
TICK_PRIORITY = 0

# Following a plan (``status --follow``, ``plan --wait``), in seconds.
#: Redraw every FOLLOW_REDRAW; look for the plan's end every FOLLOW_POLL, so
#: ``plan --wait`` returns promptly.
FOLLOW_REDRAW, FOLLOW_POLL = 0.5, 0.05
#: A plan whose counters have not moved for this long is reconciled against
#: its image records, so a count that drifted cannot hold it open.
FOLLOW_RECONCILE_AFTER = 30.0
#: ``plan --wait`` re-submits a plan Redis lost, and gives up after this many losses.
PLAN_LOSSES_MAX = 3
#: Count live workers every FOLLOW_WORKER_CHECK; say there are none only after
#: FOLLOW_NO_WORKER_GRACE of none, so a gap of one count is not reported.
FOLLOW_WORKER_CHECK, FOLLOW_NO_WORKER_GRACE = 2.0, 3.0


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


def prune_max() -> int:
    """``$SYNCER_PRUNE_MAX`` or :data:`PRUNE_MAX`: the default of ``--prune-max``."""
    return _env_int("SYNCER_PRUNE_MAX", PRUNE_MAX)


def webhook_secret() -> str | None:
    """``$SYNCER_WEBHOOK_SECRET``, else what ``$SYNCER_WEBHOOK_SECRET_FILE`` holds, else None."""
    secret = os.environ.get("SYNCER_WEBHOOK_SECRET", "").strip()
    if secret:
        return secret
    path = os.environ.get("SYNCER_WEBHOOK_SECRET_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            secret = f.read(4096).strip()
    except OSError as exc:
        raise ConfigError(f"SYNCER_WEBHOOK_SECRET_FILE {path}: {exc.strerror}") from None
    if not secret:
        raise ConfigError(f"SYNCER_WEBHOOK_SECRET_FILE {path}: empty")
    return secret
