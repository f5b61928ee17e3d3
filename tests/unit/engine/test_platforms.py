"""A single image's platform, from its config blob, for --os/--arch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest

from syncer.engine import platforms
from syncer.engine.platforms import CONFIG_BLOB_MAX
from syncer.errors import DigestMismatchError, UnsupportedError
from syncer.oci import digests, mediatypes
from syncer.oci.manifest import PlatformFilter, parse
from syncer.oci.models import RawManifest
from syncer.oci.reference import Repository
from syncer.registry.client import RegistryClient

REPO = Repository.parse("quay.io/a/b")


class _Resp:
    def __init__(self, body: bytes) -> None:
        self.body, self.closed, self.url = body, False, "http://x/blob"

    def iter_content(self, size: int) -> Iterator[bytes]:
        for i in range(0, len(self.body), size):
            yield self.body[i : i + size]

    def close(self) -> None:
        self.closed = True


class _Client:
    """Serves one config blob and counts reads."""

    def __init__(self, body: bytes) -> None:
        self.body, self.reads, self.responses = body, 0, list[_Resp]()

    def open_blob(self, repo: Repository, digest: str, offset: int = 0) -> _Resp:
        self.reads += 1
        self.responses.append(_Resp(self.body))
        return self.responses[-1]


def image(config: dict[str, Any], *, size: int | None = None, body: bytes | None = None) -> Any:
    data = body if body is not None else json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {
            "mediaType": mediatypes.OCI_CONFIG,
            "digest": digests.compute(json.dumps(config).encode()),
            "size": len(data) if size is None else size,
        },
        "layers": [],
    }
    raw_body = json.dumps(manifest).encode()
    raw = RawManifest(raw_body, mediatypes.OCI_MANIFEST, digests.compute(raw_body))
    return raw, parse(raw, "test"), _Client(data)


def check(flt: PlatformFilter, config: dict[str, Any]) -> str:
    raw, parsed, client = image(config)
    return platforms.mismatch(cast(RegistryClient, client), REPO, raw, parsed, flt)


@pytest.mark.parametrize(
    ("oses", "archs", "config", "skipped"),
    [
        ([], ["arm64"], {"os": "linux", "architecture": "amd64"}, True),
        ([], ["amd64"], {"os": "linux", "architecture": "amd64"}, False),
        (["windows"], [], {"os": "linux", "architecture": "amd64"}, True),
        (["linux"], ["amd64", "arm64"], {"os": "linux", "architecture": "arm64"}, False),
        ([], ["arm64:v8"], {"os": "linux", "architecture": "arm64", "variant": "v8"}, False),
        ([], ["arm:v7"], {"os": "linux", "architecture": "arm", "variant": "v6"}, True),
        # An empty field filters nothing (image-syncer's platformValidate).
        (["windows"], ["arm64"], {"os": "", "architecture": ""}, False),
        (["windows"], [], {"architecture": "amd64"}, False),
    ],
)
def test_single_image_filter(
    oses: list[str], archs: list[str], config: dict[str, Any], skipped: bool
) -> None:
    reason = check(PlatformFilter(tuple(oses), tuple(archs)), config)
    assert bool(reason) is skipped
    if skipped:
        assert "does not match the platform filter" in reason


def test_inactive_filter_reads_nothing() -> None:
    raw, parsed, client = image({"os": "linux", "architecture": "amd64"})
    assert platforms.mismatch(client, REPO, raw, parsed, PlatformFilter()) == ""
    assert client.reads == 0


def test_config_is_read_once_per_digest() -> None:
    config = {"os": "linux", "architecture": "riscv64", "created": "once"}
    flt = PlatformFilter((), ("riscv64",))
    raw, parsed, client = image(config)
    for _ in range(3):
        assert platforms.mismatch(client, REPO, raw, parsed, flt) == ""
    assert client.reads == 1
    assert all(r.closed for r in client.responses)


def test_a_config_claiming_to_be_huge_is_not_read() -> None:
    raw, parsed, client = image({"os": "x"}, size=CONFIG_BLOB_MAX + 1)
    with pytest.raises(UnsupportedError, match="too big"):
        platforms.mismatch(client, REPO, raw, parsed, PlatformFilter(("linux",)))
    assert client.reads == 0


def test_a_config_growing_past_the_cap_stops() -> None:
    big = b"x" * (CONFIG_BLOB_MAX + 10)
    raw, parsed, client = image({"os": "y"}, size=10, body=big)
    with pytest.raises(UnsupportedError, match="over"):
        platforms.mismatch(client, REPO, raw, parsed, PlatformFilter(("linux",)))
    assert all(r.closed for r in client.responses)


def test_a_config_that_does_not_hash_is_refused() -> None:
    raw, parsed, client = image({"os": "z"}, body=b'{"os": "linux"}')
    with pytest.raises(DigestMismatchError):
        platforms.mismatch(client, REPO, raw, parsed, PlatformFilter(("linux",)))
