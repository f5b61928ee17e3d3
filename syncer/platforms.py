"""The platform of a single-platform image, for ``--os``/``--arch``.

An index names its entries' platforms; a single image does not: its platform
is in its config blob (``os``, ``architecture``, ``variant``, ``os.version``),
or, for schema1, in the manifest's ``architecture``. image-syncer reads the
config too and skips an image that does not match. A field the image leaves
empty filters nothing, as in image-syncer; unlike image-syncer, OCI images are
filtered too, and a variant (``--arch arm64:v8``) is compared with the
config's.

Config blobs are small: one is read only up to
:data:`~syncer.defaults.CONFIG_BLOB_MAX`, checked against its digest, and its
platform is remembered per digest.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from syncer import defaults, digests, mediatypes
from syncer.errors import UnsupportedError
from syncer.manifest import Descriptor, Parsed, PlatformFilter
from syncer.reference import Repository
from syncer.registry import transport
from syncer.registry.client import RegistryClient
from syncer.registry.models import RawManifest
from syncer.retry import retrying

#: The config fields that make a platform, as index entries name them.
_FIELDS = ("os", "architecture", "variant", "os.version")
_CONFIG_TYPES = frozenset({mediatypes.DOCKER_CONFIG, mediatypes.OCI_CONFIG})

_cache: OrderedDict[str, dict[str, str]] = OrderedDict()
_lock = threading.Lock()


def mismatch(
    client: RegistryClient, repo: Repository, raw: RawManifest, parsed: Parsed, flt: PlatformFilter
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
    known = {k: v for k, v in platform.items() if v}
    probe = PlatformFilter(
        flt.oses if known.get("os") else (), flt.archs if known.get("architecture") else ()
    )
    return probe.matches(known)


def image_platform(
    client: RegistryClient, repo: Repository, raw: RawManifest, parsed: Parsed
) -> dict[str, str]:
    """``os``, ``architecture``, ``variant`` and ``os.version`` as far as the image says."""
    doc = json.loads(raw.body)
    if parsed.kind == "schema1":
        return _strings({"architecture": doc.get("architecture")})
    config = doc.get("config")
    if not isinstance(config, dict):
        return {}
    desc = Descriptor.from_json(config, f"{repo}@{raw.digest}: config")
    if desc.media_type not in _CONFIG_TYPES:
        return {}  # an artifact: its config says nothing about a platform
    with _lock:
        if desc.digest in _cache:
            _cache.move_to_end(desc.digest)
            return _cache[desc.digest]
    body = retrying(lambda: _read_config(client, repo, desc), what=f"GET config {desc.digest}")
    try:
        found = json.loads(body)
    except ValueError as exc:
        raise UnsupportedError(f"{repo}@{desc.digest}: config blob is not JSON") from exc
    platform = _strings(found if isinstance(found, dict) else {})
    with _lock:
        _cache[desc.digest] = platform
        while len(_cache) > defaults.PLATFORM_CACHE_SIZE:
            _cache.popitem(last=False)
    return platform


def _read_config(client: RegistryClient, repo: Repository, desc: Descriptor) -> bytes:
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


def _strings(obj: dict[str, Any]) -> dict[str, str]:
    return {k: obj[k] for k in _FIELDS if isinstance(obj.get(k), str) and obj[k]}
