"""The bytes a manifest digest covers, and a signed schema1 manifest's canonical payload.

The signed manifests are built by :mod:`tests.support.schema1` with placeholder
signatures that do not verify cryptographically: only the protected header's
``formatLength``/``formatTail`` decide the payload, hence the digest.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from syncer.errors import UnsupportedError
from syncer.oci import mediatypes as mt
from syncer.oci.schema1 import canonical_payload, digested_bytes
from tests.support.schema1 import b64url, protected, signed_schema1

LAYER = "sha256:" + "a" * 64


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("count", [1, 3])
def test_payload_is_the_manifest_without_its_signatures(count: int) -> None:
    body, digest = signed_schema1([LAYER], signatures=count)
    payload = canonical_payload(body, "m")
    assert sha(payload) == digest != sha(body)
    assert b"signatures" not in payload
    assert json.loads(payload)["fsLayers"] == [{"blobSum": LAYER}]


@pytest.mark.parametrize("media", [mt.DOCKER_MANIFEST_V1_SIGNED, mt.DOCKER_MANIFEST_V1, ""])
def test_signed_schema1_digest_covers_the_payload_whatever_the_label(media: str) -> None:
    body, digest = signed_schema1([LAYER])
    assert sha(digested_bytes(body, media, "m")) == digest


def test_other_manifest_types_are_hashed_as_served() -> None:
    body, _ = signed_schema1([LAYER])  # a body with "signatures" labelled as an OCI manifest
    assert digested_bytes(body, mt.OCI_MANIFEST, "m") is body


def test_unsigned_schema1_is_hashed_as_served() -> None:
    body = json.dumps({"schemaVersion": 1, "fsLayers": [{"blobSum": LAYER}]}).encode()
    assert digested_bytes(body, mt.DOCKER_MANIFEST_V1, "m") is body


def test_signed_type_without_signatures_is_refused() -> None:
    body = json.dumps({"schemaVersion": 1, "fsLayers": []}).encode()
    with pytest.raises(UnsupportedError, match="^m: signed schema1 manifest without signatures"):
        digested_bytes(body, mt.DOCKER_MANIFEST_V1_SIGNED, "m")


def _resign(body: bytes, *protecteds: str) -> bytes:
    doc = json.loads(body)
    doc["signatures"] = [{"protected": p} for p in protecteds]
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("protecteds", "message"),
    [
        ((), "no signatures"),
        (("!!not-base64!!",), "not base64url"),
        ((b64url(b"[1, 2]"),), "no protected header"),
        ((protected(10**6, b"}"),), "no usable format fields"),
        ((b64url(json.dumps({"formatLength": "5", "formatTail": "fQ"}).encode()),), "format"),
        ((b64url(json.dumps({"formatLength": 5}).encode()),), "no usable format fields"),
        ((protected(5, b"}"), protected(6, b"}")), "disagree"),
    ],
)
def test_unusable_signatures_are_refused(protecteds: tuple[str, ...], message: str) -> None:
    body, _ = signed_schema1([LAYER])
    with pytest.raises(UnsupportedError, match=message):
        canonical_payload(_resign(body, *protecteds), "m")


def test_hostile_nesting_is_refused_not_a_crash() -> None:
    body = b"[" * 100_000
    with pytest.raises(UnsupportedError, match="no signatures"):
        canonical_payload(body, "m")
    assert digested_bytes(body, mt.DOCKER_MANIFEST_V1, "m") is body
