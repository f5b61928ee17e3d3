"""The platform of a single-platform image, for ``--os``/``--arch``.

An index names its entries' platforms; a single image does not: its platform
is in its config blob (``os``, ``architecture``, ``variant``, ``os.version``),
or, for schema1, in the manifest's ``architecture``. image-syncer reads the
config too and skips an image that does not match. A field the image leaves
empty filters nothing, as in image-syncer; unlike image-syncer, OCI images are
filtered too, and a variant (``--arch arm64:v8``) is compared with the
config's.

A rule's ``platforms:`` list (:class:`~syncer.config.platformchoice.PlatformChoice`)
replaces ``--os``/``--arch`` for that rule: an image passes when it matches
any entry, each ``os[/architecture[/variant]]``.

The same config blobs say when an image was built, which ``latest:`` ranks by
(:func:`created_times`). For an index, that is the created time of its first
entry that names a real platform (attestations name ``unknown``) and passes the
rule's ``platforms:``, if it has them: the entries of one index are normally
built together, and reading one config per tag keeps ``latest`` cheap.

Config blobs are small: one is read only up to
:data:`~syncer.defaults.CONFIG_BLOB_MAX`, checked against its digest, and
what it says is remembered per digest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from syncer import defaults, untrusted
from syncer.config.platformchoice import PlatformChoice, entry_filter
from syncer.errors import (
    DigestMismatchError,
    NotFoundError,
    UnsupportedError,
    describe,
)
from syncer.oci import digests, mediatypes
from syncer.oci.manifest import Descriptor, Parsed, PlatformFilter, parse
from syncer.oci.models import RawManifest
from syncer.oci.reference import Repository
from syncer.registry import transport
from syncer.registry.api import Registry
from syncer.registry.retry import retrying

#: The config fields that make a platform, as index entries name them.
_FIELDS = ("os", "architecture", "variant", "os.version")
_CREATED = "created"
#: What a tag's created time may fail on without failing its rule: the image itself.
_UNREADABLE = (UnsupportedError, NotFoundError, DigestMismatchError)
_CONFIG_TYPES = frozenset({mediatypes.DOCKER_CONFIG, mediatypes.OCI_CONFIG})

_cache: OrderedDict[str, dict[str, str]] = OrderedDict()
_lock = threading.Lock()
#: Per-digest locks of config reads in flight, with how many threads use each.
_gates: dict[str, tuple[threading.Lock, int]] = {}


def mismatch(
    client: Registry, repo: Repository, raw: RawManifest, parsed: Parsed, flt: PlatformFilter
) -> str:
    """Why ``flt`` skips this single image, or "" when it passes (or names no platform)."""
    if not flt.active or parsed.kind == "index":
        return ""
    platform = image_platform(client, repo, raw, parsed)
    if passes(flt, platform):
        return ""
    shown = "/".join(platform.get(k, "") for k in ("os", "architecture", "variant"))
    return f"image platform {shown.strip('/')} does not match the platform filter"


def passes(flt: PlatformFilter, platform: dict[str, str]) -> bool:
    """The filter on a single image: an empty field filters nothing."""
    if isinstance(flt, PlatformChoice):
        return any(passes(entry_filter(c), platform) for c in flt.choices)
    known = {k: v for k, v in platform.items() if v}
    probe = PlatformFilter(
        flt.oses if known.get("os") else (), flt.archs if known.get("architecture") else ()
    )
    return probe.matches(known)


def image_platform(
    client: Registry, repo: Repository, raw: RawManifest, parsed: Parsed
) -> dict[str, str]:
    """``os``, ``architecture``, ``variant`` and ``os.version`` as far as the image says."""
    doc = untrusted.loads(raw.body)  # parse() read it already: it is JSON
    if parsed.kind == "schema1":
        return _strings({"architecture": doc.get("architecture")}, _FIELDS)
    facts = _config_facts(client, repo, raw, doc)
    return {k: v for k, v in facts.items() if k in _FIELDS}


def created_times(
    client: Registry, repo: Repository, tags: Sequence[str], choice: PlatformFilter
) -> dict[str, datetime | str]:
    """When each tag's image was built, or why that cannot be read; reads run in parallel."""
    if not tags:
        return {}

    def one(tag: str) -> datetime | str:
        try:
            return image_created(client, repo, tag, choice)
        except _UNREADABLE as exc:
            return describe(exc)

    with ThreadPoolExecutor(min(defaults.CREATED_READS, len(tags))) as ex:
        return dict(zip(tags, ex.map(one, tags), strict=True))


def image_created(client: Registry, repo: Repository, tag: str, choice: PlatformFilter) -> datetime:
    """The created time of the image ``tag`` names (for an index: see the module docstring)."""
    where = f"{repo}:{tag}"
    raw = retrying(lambda: client.get_manifest(repo, tag), what=f"GET {where}")
    parsed = parse(raw, where)
    if parsed.kind == "index":
        child = next((c for c in parsed.children if _dated(c, choice)), None)
        if child is None:
            raise UnsupportedError(f"{where}: no index entry names a platform to date it by")
        where = f"{repo}@{child.digest}"
        raw = retrying(lambda: client.get_manifest(repo, child.digest), what=f"GET {where}")
        parsed = parse(raw, where)
        if parsed.kind == "index":
            raise UnsupportedError(f"{where}: nested index")
    doc = untrusted.loads(raw.body)  # parse() read it already: it is JSON
    if parsed.kind == "schema1":
        facts = _schema1_created(doc)
    else:
        facts = _config_facts(client, repo, raw, doc)
    return _timestamp(facts.get(_CREATED, ""), where)


def _dated(child: Descriptor, choice: PlatformFilter) -> bool:
    """Whether an index entry can date its index: a real platform the rule keeps."""
    if child.media_type in mediatypes.INDEX_TYPES:
        return False
    if child.platform.get("os") == "unknown" or child.platform.get("architecture") == "unknown":
        return False
    return not choice.active or choice.matches(child.platform)


def _schema1_created(doc: dict[str, Any]) -> dict[str, str]:
    """schema1 keeps the top layer's config, created time included, in ``history[0]``."""
    history = doc.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict):
        try:
            top = untrusted.loads(history[0].get("v1Compatibility") or "{}")
        except (TypeError, ValueError):
            return {}
        return _strings(top if isinstance(top, dict) else {}, (_CREATED,))
    return {}


def _timestamp(text: str, where: str) -> datetime:
    """An RFC 3339 time (Go writes nanoseconds; Python keeps microseconds)."""
    if not text:
        raise UnsupportedError(f"{where}: the image config has no created time")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UnsupportedError(f"{where}: created time {text[:64]!r} is not RFC 3339") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _config_facts(
    client: Registry, repo: Repository, raw: RawManifest, doc: dict[str, Any]
) -> dict[str, str]:
    """Platform fields and created time from the image's config blob, remembered by digest."""
    config = doc.get("config")
    if not isinstance(config, dict):
        return {}
    desc = Descriptor.from_json(config, f"{repo}@{raw.digest}: config")
    if desc.media_type not in _CONFIG_TYPES:
        return {}  # an artifact: its config says nothing about a platform
    cached = _cached(desc.digest)
    if cached is not None:
        return cached
    with _gate(desc.digest):
        # Another thread may have read it while this one waited: one read per digest.
        cached = _cached(desc.digest)
        if cached is not None:
            return cached
        body = retrying(lambda: _read_config(client, repo, desc), what=f"GET config {desc.digest}")
        try:
            found = untrusted.loads(body)
        except ValueError as exc:
            raise UnsupportedError(f"{repo}@{desc.digest}: config blob is not JSON") from exc
        facts = _strings(found if isinstance(found, dict) else {}, (*_FIELDS, _CREATED))
        with _lock:
            _cache[desc.digest] = facts
            while len(_cache) > defaults.PLATFORM_CACHE_SIZE:
                _cache.popitem(last=False)
    return facts


def _cached(digest: str) -> dict[str, str] | None:
    with _lock:
        if digest in _cache:
            _cache.move_to_end(digest)
            return _cache[digest]
    return None


@contextmanager
def _gate(digest: str) -> Iterator[None]:
    """Serialise reads of one digest; the gate is dropped when no thread holds it."""
    with _lock:
        gate, users = _gates.get(digest, (threading.Lock(), 0))
        _gates[digest] = (gate, users + 1)
    try:
        with gate:
            yield
    finally:
        with _lock:
            gate, users = _gates[digest]
            if users == 1:
                del _gates[digest]
            else:
                _gates[digest] = (gate, users - 1)


def _read_config(client: Registry, repo: Repository, desc: Descriptor) -> bytes:
    """The config blob, capped and verified."""
    limit = defaults.CONFIG_BLOB_MAX
    if desc.size > limit:
        raise UnsupportedError(f"{repo}@{desc.digest}: config blob of {desc.size} bytes is too big")
    resp = client.open_blob(repo, desc.digest)
    try:
        body = bytearray()
        for chunk in transport.iter_body(resp, 64 << 10):
            body += chunk
            if len(body) > limit:
                raise UnsupportedError(f"{repo}@{desc.digest}: config blob over {limit} bytes")
    finally:
        resp.close()
    digests.verify(bytes(body), desc.digest, f"{repo}@{desc.digest}")
    return bytes(body)


def _strings(obj: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    return {k: obj[k] for k in fields if isinstance(obj.get(k), str) and obj[k]}
