"""The export record: what an export to OCI layouts holds, so the next one can leave it out.

``syncer sync --record FILE`` writes it after a run whose rules write
layouts or archives; ``syncer sync --since FILE`` reads one back. It is
JSON (version 1)::

    {
      "syncerExport": 1,
      "created": "2026-12-07T19:00:00Z",
      "since": "/mnt/usb1/export.json",          # the record this export built on, or null
      "layouts": {"oci:/mnt/usb2/quay.io/coreos/proxy": {"v1": "sha256:..."}},
      "blobs": {"sha256:...": 1234, ...}
    }

``layouts`` maps each destination of the run to its tags; ``blobs`` lists
every blob and manifest (by digest, with its size) that this export's
layouts hold *or* that the records it was made ``--since`` held, so
``--since`` the newest record skips everything carried across before. A
record is input when read back: its size is capped and every digest checked.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from syncer.errors import ConfigError, LayoutError, UnsupportedError
from syncer.layout.client import LayoutClient
from syncer.layout.index import REF_NAME
from syncer.oci import digests
from syncer.oci.reference import Repository

#: Largest export record (``syncer sync --since FILE``) read back.
MAX_EXPORT_RECORD = 256 << 20


VERSION = 1


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """Every blob an export (and the exports it built on) carried, and its layouts' tags."""

    blobs: Mapping[str, int] = field(default_factory=dict)
    layouts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    since: str | None = None

    def to_json(self) -> bytes:
        """The record's file content."""
        doc = {
            "syncerExport": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "since": self.since,
            "layouts": {k: dict(v) for k, v in sorted(self.layouts.items())},
            "blobs": dict(sorted(self.blobs.items())),
        }
        return json.dumps(doc, indent=1).encode() + b"\n"


def load(path: Path) -> ExportRecord:
    """Read a record; anything malformed is a :class:`ConfigError` naming the file."""
    where = f"--since {path}"
    try:
        with open(path, "rb") as f:
            body = f.read(MAX_EXPORT_RECORD + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: {exc.strerror or exc}") from exc
    if len(body) > MAX_EXPORT_RECORD:
        raise ConfigError(f"{where}: larger than {MAX_EXPORT_RECORD} bytes; refused")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ConfigError(f"{where}: not JSON") from exc
    if not isinstance(doc, dict) or doc.get("syncerExport") != VERSION:
        raise ConfigError(f"{where}: not a syncer export record (syncerExport: {VERSION})")
    blobs = doc.get("blobs")
    if not isinstance(blobs, dict):
        raise ConfigError(f"{where}: blobs is not an object")
    for digest, size in blobs.items():
        try:
            digests.parse(digest)
        except UnsupportedError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if type(size) is not int or size < 0:
            raise ConfigError(f"{where}: blob {digest} has no valid size")
    return ExportRecord(blobs=blobs)


def save(path: Path, record: ExportRecord) -> None:
    """Write ``record`` to ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    try:
        with open(tmp, "wb") as f:
            f.write(record.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise LayoutError(f"--record {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def collect(
    client: LayoutClient,
    destinations: Iterable[Repository],
    previous: ExportRecord | None,
    since: Path | None,
) -> ExportRecord:
    """The record of an export to ``destinations``: what they hold, and what ``previous`` held."""
    blobs = dict(previous.blobs) if previous is not None else {}
    layouts: dict[str, dict[str, str]] = {}
    for repo in dict.fromkeys(destinations):
        store = client.store(repo)
        if not store.exists():
            continue
        blobs.update(client.held(repo))
        index = store.index()
        found = (index.find(tag) for tag in index.tags())
        layouts[str(repo)] = {
            str(d.annotations[REF_NAME]): d.digest for d in found if d is not None
        }
    return ExportRecord(blobs, layouts, str(since) if since else None)
