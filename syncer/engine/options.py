"""How to run a sync: the CLI flags, typed, for either executor."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncer import defaults
from syncer.oci.manifest import PlatformFilter


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How to run a sync; the CLI flags, typed."""

    proc: int = defaults.PROC
    retries: int = defaults.RETRIES
    force: bool = False
    platforms: PlatformFilter = field(default_factory=PlatformFilter)
    chunked_threshold: int = defaults.CHUNKED_THRESHOLD
    upload_chunk: int = defaults.UPLOAD_CHUNK
    #: ``--referrers``: copy signatures, SBOMs and attestations with their images.
    referrers: bool = False
    #: ``--referrers-type``: only referrers of these artifact types (all when empty).
    referrer_types: tuple[str, ...] = ()
