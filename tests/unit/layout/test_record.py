"""Export records: written after an export, read back by --since, checked like any input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncer.errors import ConfigError
from syncer.layout import record
from syncer.layout.client import LayoutClient
from tests.support.layout_kit import digest_of, layout_repo, small_image, write_image


def test_a_record_holds_the_layouts_and_what_the_previous_one_carried(tmp_path: Path) -> None:
    client, image = LayoutClient(), small_image("app")
    repo = layout_repo(tmp_path / "app")
    write_image(client, repo, "v1", image)
    client.close()
    old = record.ExportRecord({digest_of(b"carried"): 7})

    done = record.collect(LayoutClient(), [repo, repo], old, tmp_path / "day1.json")
    record.save(tmp_path / "day2.json", done)

    back = record.load(tmp_path / "day2.json")
    assert set(back.blobs) == {
        digest_of(b"carried"),
        digest_of(image.config),
        digest_of(image.layer),
        image.manifest.digest,
    }
    doc = json.loads((tmp_path / "day2.json").read_text())
    assert doc["layouts"] == {str(repo): {"v1": image.manifest.digest}}
    assert doc["since"] == str(tmp_path / "day1.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not JSON"),
        (b'{"blobs": {}}', "not a syncer export record"),
        (b'{"syncerExport": 1, "blobs": []}', "blobs is not an object"),
        (b'{"syncerExport": 1, "blobs": {"sha256:../x": 1}}', "invalid digest"),
        (b'{"syncerExport": 1, "blobs": {"' + digest_of(b"x").encode() + b'": -1}}', "size"),
    ],
)
def test_a_bad_record_is_one_config_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        record.load(path)


def test_a_missing_record_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--since"):
        record.load(tmp_path / "none.json")
