"""syncer's object form of an images value, which image-syncer does not have.

An informative case: the same file through both tools shows what image-syncer
makes of an object value, and that syncer applies its filters beside a plain rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.images import build_image_set
from tests.support.compat_rules import Run, seeded_scenario, yaml_files

SET = build_image_set(13, repos=1, tags_per_repo=3, large_layer_size=0)
RULES = {
    "SRC/lab/app0": {"to": "DST/o/filtered", "include": "/^v[12]$/", "latest": 1},
    "SRC/lab/app0:v3": "DST/o/plain",
}


@pytest.fixture(scope="module")
def run(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """Both tools, once, on a file with one object value and one plain rule."""
    root = tmp_path_factory.mktemp("compat-object")
    with seeded_scenario(registry_binary, root, SET.images, yaml_files(RULES)) as run:
        yield run


@pytest.mark.differs("the object form is a syncer extension; image-syncer rejects the file")
def test_image_syncer_rejects_the_file_and_syncer_applies_the_filters(run: Run) -> None:
    """image-syncer refuses the whole images file and copies nothing; syncer copies
    the newest tag the filters keep, and the plain rule as image-syncer would."""
    assert run.oracle.code == 255, run.oracle
    assert "destination should only be string or []string" in run.oracle.out, run.oracle
    # The lab builds every image at one time; ties go to the greater tag name.
    assert run.both_tags("o/filtered") == ([], ["v2"])
    assert run.both_tags("o/plain") == ([], ["v3"])
    assert run.ours.code == 0, run.ours
