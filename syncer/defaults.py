"""Every default syncer uses, in one place."""

from __future__ import annotations

import os
from pathlib import Path

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
#: Blobs at or above this size are uploaded in PATCH chunks that can resume.
CHUNKED_THRESHOLD = 64 << 20
#: Size of one PATCH when uploading in chunks.
UPLOAD_CHUNK = 32 << 20

#: (connect, read) timeouts for one HTTP request, in seconds.
TIMEOUT = (10.0, 120.0)
#: Tag-list page size requested with ``?n=``.
TAGS_PAGE = 1000
#: Longest wait for a ``docker-credential-*`` helper to answer, in seconds.
CREDENTIAL_HELPER_TIMEOUT = 30.0


def cache_dir() -> Path:
    """The user cache directory: ``$XDG_CACHE_HOME/syncer`` or ``~/.cache/syncer``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "syncer"


def blob_cache_file() -> Path:
    """Where the embedded blob cache lives unless ``--cache`` says otherwise."""
    return cache_dir() / "blobs.json"


#: Largest image config blob read to learn a single image's platform for
#: ``--os``/``--arch``; real configs are a few KiB.
CONFIG_BLOB_MAX = 4 << 20
#: Config blobs whose platform is remembered per process, by digest.
PLATFORM_CACHE_SIZE = 4096
