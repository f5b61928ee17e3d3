"""Plain values of the registry client (syncer.oci.models)."""

from __future__ import annotations

import dataclasses

import pytest
import requests

from syncer.oci.models import ManifestHead, RawManifest, SizedBody


def test_a_sized_body_is_sent_with_its_length_not_chunked() -> None:
    body = SizedBody(iter([b"ab", b"cde"]), 5)
    request = requests.Request("PUT", "https://reg.example/v2/x/blobs/uploads/1", data=body)
    prepared = request.prepare()
    assert prepared.headers["Content-Length"] == "5"
    assert "Transfer-Encoding" not in prepared.headers
    assert b"".join(body) == b"abcde"


def test_manifest_values_are_frozen() -> None:
    raw = RawManifest(b"{}", "application/json", "sha256:" + "0" * 64)
    head = ManifestHead(raw.digest, raw.media_type, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        raw.body = b"[]"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        head.size = 3  # type: ignore[misc]
