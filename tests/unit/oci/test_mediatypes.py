"""Media types (syncer.oci.mediatypes): what is never copied, and the Accept order."""

from __future__ import annotations

import pytest

from syncer.oci import mediatypes as mt


@pytest.mark.parametrize(
    "media_type",
    [
        mt.DOCKER_FOREIGN_LAYER,
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
    ],
)
def test_foreign_and_non_distributable_layers_are_not_copied(media_type: str) -> None:
    assert mt.is_foreign_layer(media_type)


@pytest.mark.parametrize("media_type", [mt.DOCKER_LAYER, mt.OCI_LAYER, mt.OCI_CONFIG, ""])
def test_ordinary_layers_are_copied(media_type: str) -> None:
    assert not mt.is_foreign_layer(media_type)


def test_accept_asks_for_indexes_first_and_schema1_last() -> None:
    accepted = mt.MANIFEST_ACCEPT.split(", ")
    assert accepted[:2] == [mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST]
    assert set(accepted[-2:]) == mt.SCHEMA1_TYPES
    assert set(accepted) == mt.INDEX_TYPES | mt.IMAGE_TYPES | mt.SCHEMA1_TYPES


def test_the_kinds_of_manifest_do_not_overlap() -> None:
    assert not mt.INDEX_TYPES & mt.IMAGE_TYPES
    assert not (mt.INDEX_TYPES | mt.IMAGE_TYPES) & mt.SCHEMA1_TYPES
