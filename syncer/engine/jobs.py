"""Units of work and their results: frozen, JSON-friendly, shared by both executors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from syncer.config.platformchoice import platform_list
from syncer.oci.reference import ImageRef

Status = Literal["synced", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class TagJob:
    """Copy one source image (tag or digest) to one destination reference."""

    source: ImageRef
    dest: ImageRef
    rule: str = ""
    #: The rule's ``platforms:``, which replace ``--os``/``--arch`` for this image.
    platforms: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``source → dest`` for logs."""
        return f"{self.source} -> {self.dest}"

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives only: references as strings; ``platforms`` only when set."""
        out: dict[str, Any] = {
            "source": str(self.source),
            "dest": str(self.dest),
            "rule": self.rule,
        }
        if self.platforms:
            out["platforms"] = list(self.platforms)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TagJob:
        """Inverse of :meth:`to_dict`."""
        return cls(
            ImageRef.parse(data["source"]),
            ImageRef.parse(data["dest"]),
            str(data.get("rule", "")),
            platform_list(data["platforms"]) if data.get("platforms") else (),
        )


@dataclass(frozen=True, slots=True)
class ImageResult:
    """What happened to one image."""

    source: str
    dest: str
    status: Status
    reason: str = ""
    bytes: int = 0
    rule: str = ""
    transient: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, used by ``--output json`` and the distributed report."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)
