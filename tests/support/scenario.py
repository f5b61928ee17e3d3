"""Helpers for the end-to-end fleet tests: config files, seeding, plans, log counting, dumps."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import redis

from lab.images import ImageSet, SeedImage, build_image_set, push_image_set
from lab.registry import RegistryServer
from syncer.fleet.protocol import settings
from tests.support.processes import CliRun, RunCli
from tests.support.registries import LabRegistry
from tests.support.verify import Access, RegistryReader, access_log, verify_image

UPLOADS = "/blobs/uploads/"
#: The name of every kind of task a plan runs.
EVERY_TASK = frozenset(
    {settings.EXPAND_RULE, settings.SYNC_TAGS, settings.COPY_BLOB, settings.PUSH_IMAGE}
)
#: Seconds ``syncer plan --wait`` gets by default.
PLAN_TIMEOUT = 150.0


def write_json(path: Path, data: object) -> Path:
    """Write ``data`` as JSON; return the path."""
    path.write_text(json.dumps(data, indent=2))
    return path


def insecure(*hosts: str) -> dict[str, dict[str, Any]]:
    """Auth entries marking loopback registries ``insecure: true``."""
    return {host: {"insecure": True} for host in hosts}


def small_image(seed_number: int) -> SeedImage:
    """``lab/app0:v1`` of a one-image set without a large layer: a quick image of its own."""
    return build_image_set(seed_number, repos=1, tags_per_repo=1, large_layer_size=0).get(
        "lab/app0", "v1"
    )


def seed(registry: LabRegistry, images: Iterable[SeedImage]) -> list[SeedImage]:
    """Push ``images`` into ``registry``; return them."""
    subset = list(images)
    push_image_set(
        registry.url, ImageSet(tuple(subset)), auth=registry.auth, verify=registry.verify
    )
    return subset


def seed_apps(registry: LabRegistry, seed_number: int, **layout: int) -> list[SeedImage]:
    """Seed the ``lab/app*`` images of the lab set ``build_image_set`` makes of ``layout``."""
    image_set = build_image_set(seed_number, **layout)
    return seed(registry, [i for i in image_set.images if i.repo.startswith("lab/app")])


def plan_wait(
    cli: RunCli, auth: Path, images: Path, *extra: str, timeout: float = PLAN_TIMEOUT
) -> CliRun:
    """``syncer plan --auth A --images I --wait --output json``."""
    return cli(
        "plan",
        "--auth",
        auth,
        "--images",
        images,
        "--wait",
        "--output",
        "json",
        *extra,
        timeout=timeout,
    )


def start_plan(cli: RunCli, auth: Path, images: Path) -> str:
    """``syncer plan --auth A --images I`` without waiting; the plan's id."""
    started = cli("plan", "--auth", auth, "--images", images)
    assert started.code == 0, started
    return started.out.strip()


def verify_all(reader: RegistryReader, expected: Iterable[tuple[str, str, str]]) -> None:
    """``verify_image`` every ``(repo, tag, digest)``."""
    for repo, tag, digest in expected:
        verify_image(reader, repo, tag, digest)


# -- what a registry saw ---------------------------------------------------------------
def _session(path: str) -> str:
    return path.split("?", 1)[0].rsplit("/", 1)[-1]


def uploads_of(server: RegistryServer, digest: str, since: int = 0) -> list[Access]:
    """The PUTs that completed an upload of ``digest`` and the PATCHes of those sessions."""
    log = access_log(server)[since:]
    closing = [
        a
        for a in log
        if a.method == "PUT" and UPLOADS in a.path and f"digest={digest}" in unquote(a.path)
    ]
    sessions = {_session(a.path) for a in closing}
    chunks = [a for a in log if a.method == "PATCH" and _session(a.path) in sessions]
    return closing + chunks


def mounts_of(server: RegistryServer, digest: str, since: int = 0) -> list[Access]:
    """The successful cross-repository mounts (``POST ...?mount=``) of ``digest``."""
    return [
        a
        for a in access_log(server)[since:]
        if a.method == "POST" and f"mount={digest}" in unquote(a.path) and a.status == 201
    ]


def writes_since(server: RegistryServer, since: int) -> list[Access]:
    """Every PUT, POST, PATCH or DELETE after the first ``since`` log entries."""
    return [a for a in access_log(server)[since:] if a.method in ("PUT", "POST", "PATCH", "DELETE")]


def manifest_gets(server: RegistryServer, since: int = 0) -> list[Access]:
    """Manifest GETs (not HEADs) after the first ``since`` log entries."""
    return [a for a in access_log(server)[since:] if a.method == "GET" and "/manifests/" in a.path]


# -- Redis -------------------------------------------------------------------------------
def _values(client: redis.Redis, key: bytes) -> list[bytes]:
    # The client returns bytes (no decode_responses); redis-py's stubs cannot say so.
    c: Any = client
    kind = c.type(key).decode()
    if kind == "string":
        return [c.get(key) or b""]
    if kind == "list":
        return list(c.lrange(key, 0, -1))
    if kind == "set":
        return list(c.smembers(key))
    if kind == "zset":
        return [m for m, _ in c.zrange(key, 0, -1, withscores=True)]
    if kind == "hash":
        return [part for pair in c.hgetall(key).items() for part in pair]
    if kind == "stream":
        return [part for _, fields in c.xrange(key) for pair in fields.items() for part in pair]
    if kind == "none":  # expired between SCAN and TYPE
        return []
    raise AssertionError(f"unexpected Redis type {kind} of {key!r}")


def _message_bodies(value: Any) -> Iterable[bytes]:
    """Kombu keeps message bodies base64-encoded inside JSON envelopes: decode them."""
    if isinstance(value, dict):
        props = value.get("properties")
        if isinstance(props, dict) and props.get("body_encoding") == "base64":
            yield base64.b64decode(value.get("body", ""))
        for item in value.values():
            yield from _message_bodies(item)
    elif isinstance(value, list):
        for item in value:
            yield from _message_bodies(item)


def redis_dump(client: redis.Redis) -> str:
    """Every key and every value of the database as text, message bodies decoded."""
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        for value in _values(client, key):
            parts.append(value)
            try:
                parts.extend(_message_bodies(json.loads(value)))
            except ValueError:
                pass
    return "\n".join(p.decode("utf-8", "replace") for p in parts)


def secret_forms(username: str, password: str) -> list[str]:
    """How a password could show up: as itself, or inside a Basic ``Authorization`` header."""
    return [password, base64.b64encode(f"{username}:{password}".encode()).decode()]
