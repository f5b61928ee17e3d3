"""index.json: tags as ref.name annotations, other tools' entries and fields kept."""

from __future__ import annotations

import json

import pytest

from syncer.errors import UnsupportedError
from syncer.layout.index import REF_NAME, Index, sniff_media_type

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_tags_are_ref_names_and_foreign_entries_survive_a_retag() -> None:
    doc = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "m", "digest": D1, "size": 1, "annotations": {REF_NAME: "v1"}},
            {"mediaType": "m", "digest": D2, "size": 2, "platform": {"os": "linux"}},
        ],
        "annotations": {"made.by": "skopeo"},
    }
    index = Index.parse(json.dumps(doc).encode(), "t")
    assert index.tags() == ["v1"]
    assert index.tag("v1", "m", D1, 1) is False
    assert index.tag("v1", "m2", D2, 2) is True

    out = json.loads(index.dumps())
    assert out["annotations"] == {"made.by": "skopeo"}
    assert out["manifests"][0] == doc["manifests"][1]  # type: ignore[index]
    assert out["manifests"][1]["annotations"] == {REF_NAME: "v1"}
    assert index.find("v1") is not None and index.find("v1").digest == D2  # type: ignore[union-attr]


@pytest.mark.parametrize("body", [b"[]", b"{}", b"nope", b'{"manifests": [{"size": 1}]}'])
def test_a_malformed_index_is_refused(body: bytes) -> None:
    with pytest.raises(UnsupportedError):
        Index.parse(body, "t")


def test_a_media_type_is_sniffed_only_from_a_json_object() -> None:
    assert sniff_media_type(b'{"mediaType": "a/b"}') == "a/b"
    assert sniff_media_type(b"[1]") == "" and sniff_media_type(b"{") == ""
