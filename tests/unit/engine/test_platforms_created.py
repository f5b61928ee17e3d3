"""Created times for ``latest:`` (engine.platforms.created_times) and a rule's platform list."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, cast

import pytest

from syncer.config.platformchoice import PlatformChoice
from syncer.engine import platforms
from syncer.errors import ServerError
from syncer.oci import digests, mediatypes
from syncer.oci.manifest import PlatformFilter, parse
from syncer.oci.models import RawManifest
from syncer.oci.reference import Repository
from syncer.registry.client import RegistryClient
from tests.support.manifest_store import Registry

REPO = Repository.parse("quay.io/a/created")
NO_FILTER = PlatformFilter()


def times(reg: Registry, tags: list[str], choice: PlatformFilter = NO_FILTER) -> dict[str, Any]:
    return platforms.created_times(cast(RegistryClient, reg), REPO, tags, choice)


def test_single_images_are_dated_by_their_config() -> None:
    reg = Registry()
    reg.image("a", {"created": "2026-01-02T03:04:05.123456789Z", "os": "linux"})
    reg.image("b", {"created": "2025-12-31T23:00:00+01:00"})
    got = times(reg, ["a", "b"])
    assert got["a"] == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    assert got["b"] == datetime(2025, 12, 31, 22, 0, tzinfo=timezone.utc)


def test_an_index_is_dated_by_its_first_child_the_rules_platforms_keep() -> None:
    reg = Registry()
    attestation = reg.image(None, {"created": "2030-01-01T00:00:00Z"})
    amd = reg.image(None, {"created": "2026-01-01T00:00:00Z"})
    arm = reg.image(None, {"created": "2026-02-01T00:00:00Z"})
    unknown = {"os": "unknown", "architecture": "unknown"}
    reg.index(
        "multi",
        [
            (attestation, unknown),
            (amd, {"os": "linux", "architecture": "amd64"}),
            (arm, {"os": "linux", "architecture": "arm64"}),
        ],
    )
    assert times(reg, ["multi"])["multi"].month == 1
    arm_only = PlatformChoice(choices=("linux/arm64",))
    assert times(reg, ["multi"], arm_only)["multi"].month == 2
    none = PlatformChoice(choices=("windows/amd64",))
    assert "no index entry names a platform" in times(reg, ["multi"], none)["multi"]


def test_unreadable_created_times_are_reasons_not_errors() -> None:
    reg = Registry()
    reg.image("none", {"os": "linux"})
    reg.image("bad", {"created": "yesterday"})
    got = times(reg, ["none", "bad", "gone"])
    assert got["none"].endswith("quay.io/a/created:none: the image config has no created time")
    assert "created time 'yesterday' is not RFC 3339" in got["bad"]
    assert "MANIFEST_UNKNOWN" in got["gone"]


def test_configs_are_read_once_per_digest_across_tags_and_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(platforms, "_cache", OrderedDict())
    reg = Registry()
    reg.delay = 0.05
    shared = {"created": "2026-03-01T00:00:00Z", "architecture": "s390x"}
    for tag in ("x", "y", "z"):
        reg.image(tag, shared)
    times(reg, ["x", "y", "z"])
    times(reg, ["x"])
    assert len(reg.blob_reads) == 1


def test_a_transient_registry_error_fails_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the image's own problems become reasons; the registry's fail the listing."""

    class Down(Registry):
        def get_manifest(self, repo: Repository, reference: str) -> RawManifest:
            raise ServerError("HTTP 503", status=503)

    monkeypatch.setattr(platforms, "retrying", lambda fn, what: fn())
    with pytest.raises(ServerError):
        times(Down(), ["a"])


def test_schema1_is_dated_by_its_top_history_entry() -> None:
    reg = Registry()
    top = json.dumps({"created": "2016-05-06T07:08:09Z"})
    doc = {
        "schemaVersion": 1,
        "name": "a/created",
        "tag": "old",
        "fsLayers": [],
        "history": [{"v1Compatibility": top}],
    }
    body = json.dumps(doc).encode()
    reg.manifests["old"] = RawManifest(body, mediatypes.DOCKER_MANIFEST_V1, digests.compute(body))
    assert parse(reg.manifests["old"], "t").kind == "schema1"
    assert times(reg, ["old"])["old"] == datetime(2016, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("entry", "platform", "passes"),
    [
        ("linux/amd64", {"os": "linux", "architecture": "amd64"}, True),
        ("linux/amd64", {"os": "linux", "architecture": "arm64"}, False),
        ("linux", {"os": "linux", "architecture": "riscv64"}, True),
        ("linux/arm64/v8", {"os": "linux", "architecture": "arm64", "variant": "v8"}, True),
        ("linux/arm/v7", {"os": "linux", "architecture": "arm", "variant": "v6"}, False),
    ],
)
def test_a_platform_list_entry_reads_like_os_and_arch_flags(
    entry: str, platform: dict[str, str], passes: bool
) -> None:
    choice = PlatformChoice(choices=(entry,))
    assert choice.active and choice.matches(platform) is passes
    assert platforms.passes(choice, platform) is passes


def test_a_platform_list_is_not_a_cross_product() -> None:
    choice = PlatformChoice(choices=("linux/amd64", "windows/arm64"))
    assert choice.matches({"os": "windows", "architecture": "arm64"})
    assert not choice.matches({"os": "windows", "architecture": "amd64"})
    assert not choice.matches({"os": "linux", "architecture": "arm64"})
    # A single image whose config leaves a field empty is not filtered on it (as --os/--arch).
    assert platforms.passes(choice, {"architecture": "arm64"})
    assert choice.to_dict() == {"os": [], "arch": [], "platforms": ["linux/amd64", "windows/arm64"]}
