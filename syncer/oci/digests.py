"""Content digests: parse ``algorithm:hex``, hash in the algorithm named, verify.

Every manifest and blob syncer copies is checked here, in the algorithm its
digest names (OCI image-spec "Digests": sha256 and sha512 are registered;
sha384 is accepted as distribution's ``go-digest`` does). An algorithm we
cannot compute is a permanent :class:`UnsupportedError`, never "unverified".
https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from syncer.errors import ConfigError, DigestMismatchError, UnsupportedError
from syncer.oci.reference import validate_digest

#: The algorithm of digests syncer computes itself (rewritten indexes, tag GETs).
CANONICAL = "sha256"


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed, supported content digest."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def parse(text: str, where: str = "") -> Digest:
    """Parse a digest from a server or a manifest; unsupported or malformed is permanent."""
    try:
        validate_digest(text)
    except ConfigError as exc:
        raise UnsupportedError(f"{where}: {exc}" if where else str(exc)) from None
    algorithm, _, hexpart = text.partition(":")
    return Digest(algorithm, hexpart)


def is_digest(reference: str) -> bool:
    """Whether a manifest reference is a digest rather than a tag (tags have no ``:``)."""
    return ":" in reference


def hasher(digest: str) -> hashlib._Hash:
    """A fresh hash object in the algorithm ``digest`` names."""
    return hashlib.new(parse(digest).algorithm)


def of(state: hashlib._Hash) -> str:
    """``algorithm:hex`` of what a hash object has consumed."""
    return f"{state.name}:{state.hexdigest()}"


def compute(data: bytes, algorithm: str = CANONICAL) -> str:
    """``algorithm:hex`` of ``data``."""
    return of(hashlib.new(algorithm, data))


def verify(data: bytes, expected: str, what: str) -> None:
    """Raise :class:`DigestMismatchError` unless ``data`` hashes to ``expected``."""
    actual = compute(data, parse(expected, what).algorithm)
    if actual != expected:
        raise DigestMismatchError(what, expected, actual)
