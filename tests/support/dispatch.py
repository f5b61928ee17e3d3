"""A dispatcher that records what the fleet sends, a context built on it, and a step's inputs."""

from __future__ import annotations

from typing import Any

import redis

from syncer.engine.jobs import TagJob
from syncer.fleet.protocol.keys import blob_key
from syncer.fleet.steps.context import FleetContext
from syncer.oci.manifest import Descriptor
from syncer.oci.reference import ImageRef
from syncer.registry.pool import ClientPool

PLAN = "20240101-000000-steps1"
MIB = 1 << 20
JOB = TagJob(
    ImageRef.parse("src.example/lab/app:v1"), ImageRef.parse("dst.example/mirror/app:v1"), "r"
)


def tag_job(tag: str, rule: str = "r") -> TagJob:
    """``JOB``'s image at another tag (a batch's images differ by tag)."""
    return TagJob(
        ImageRef.parse(f"src.example/lab/app:{tag}"),
        ImageRef.parse(f"dst.example/mirror/app:{tag}"),
        rule,
    )


class Recorder:
    """Keeps ``(name, kwargs, priority)`` of every send; fails for ``fail_on`` task names."""

    def __init__(self, fail_on: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, dict[str, Any], int | None]] = []
        self.fail_on = fail_on

    def send(self, name: str, kwargs: dict[str, Any], priority: int | None = None) -> None:
        """Record the message, or fail as an unreachable broker would."""
        if name in self.fail_on:
            raise ConnectionError("broker unavailable")
        self.sent.append((name, kwargs, priority))

    @property
    def names(self) -> list[str]:
        """The task names sent, in order."""
        return [name for name, _, _ in self.sent]


def fleet_context(
    client: redis.Redis, dispatch: Recorder, pool: ClientPool | None = None
) -> FleetContext:
    """A worker's context on ``client``; steps that never reach a registry need no pool."""
    return FleetContext(redis=client, pool=pool, dispatch=dispatch, limits={})  # type: ignore[arg-type]


def missing_blobs(*sizes: int) -> dict[str, Descriptor]:
    """``JOB``'s destination blobs of these sizes, by blob key, as a tag step hands them out."""
    descs = [Descriptor("m", f"sha256:{i:064x}", size) for i, size in enumerate(sizes, 1)]
    return {blob_key("dst.example/mirror/app", d.digest): d for d in descs}
