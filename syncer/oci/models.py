"""Plain values the registry client hands out and takes in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """What a manifest HEAD tells: its digest, media type and size."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class RawManifest:
    """A manifest exactly as the registry served it."""

    body: bytes
    media_type: str
    digest: str


class SizedBody:
    """An iterable request body with a known length, so requests sends Content-Length."""

    def __init__(self, chunks: Iterable[bytes], length: int) -> None:
        self._chunks = chunks
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def __len__(self) -> int:
        return self._length
