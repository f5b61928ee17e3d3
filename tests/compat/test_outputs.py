"""Row 6: --output-success-images is the file image-syncer writes, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import SYNCER_BARE, Side, run_again, run_both
from tests.support.compat_cases import split

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]


def success_file(side: Side, name: str) -> str:
    """The file ``side`` wrote, with its destination host put back to ``DST``."""
    text = side.file(name)
    assert text is not None, side
    return text.replace(side.dest.host, "DST")


def args(fmt: str) -> list[str]:
    # Default retries: every case here expects success, and a retry absorbs a
    # transient hiccup of either tool under a loaded machine (seen once, in the oracle).
    return ["--output-success-images", f"ok.{fmt}", "--output-images-format", fmt]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_tags_lists_and_digests_written_identically(
    fmt: str, shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """A tag list, a manifest list and a digest: the same bytes."""
    source, images = shared_source
    digest = images.get("lab/app1", "v2").digest
    rules = {
        "SRC/lab/app0:v1,v2": "DST/mirror/app0",
        "SRC/lab/multi:list": "DST/mirror/multi",
        f"SRC/lab/app1@{digest}": "DST/mirror/pinned",
    }
    oracle, ours = run_both(
        tmp_path, source.host, make_dest, split(rules, args=args(fmt)), syncer_prefix=SYNCER_BARE
    )
    assert oracle.ok, oracle
    assert ours.ok, ours
    theirs, mine = success_file(oracle, f"ok.{fmt}"), success_file(ours, f"ok.{fmt}")
    assert mine == theirs
    data = json.loads(mine) if fmt == "json" else yaml.safe_load(mine)
    src = source.host
    assert data == {
        f"{src}/lab/app0:v1": ["DST/mirror/app0:v1"],
        f"{src}/lab/app0:v2": ["DST/mirror/app0:v2"],
        f"{src}/lab/app1@{digest}": [f"DST/mirror/pinned@{digest}"],
        f"{src}/lab/multi:list": ["DST/mirror/multi:list"],
    }
    assert ours.tags("mirror/pinned") == oracle.tags("mirror/pinned") == []
    assert ours.digest("mirror/pinned", digest) == oracle.digest("mirror/pinned", digest) == digest


def test_two_destinations_listed_under_one_source(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """A list of destinations: one key, a list of both (in the order copies finished)."""
    rules = {"SRC/lab/app1:v1": ["DST/mirror/one", "DST/backup/one"]}
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_dest, split(rules, args=args("json"))
    )
    assert oracle.ok and ours.ok, (oracle, ours)
    theirs, mine = (json.loads(success_file(s, "ok.json")) for s in (oracle, ours))
    key = f"{shared_source[0].host}/lab/app1:v1"
    assert list(mine) == list(theirs) == [key]
    assert sorted(mine[key]) == sorted(theirs[key]) == ["DST/backup/one:v1", "DST/mirror/one:v1"]


def test_rerun_from_the_success_file_copies_nothing_and_says_so(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """Each tool's success file, fed back as --images: a no-op run whose success file is `{}`.

    Unchanged images are not "success images" in image-syncer; syncer's richer
    view (``--success-includes-unchanged``) lists them.
    """
    rules = {"SRC/lab/app0:v1": "DST/mirror/app0", "SRC/lab/app1:v1,v2": "DST/mirror/app1"}
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_dest, split(rules, args=args("yaml"))
    )
    assert oracle.ok and ours.ok, (oracle, ours)
    again = ["--auth", "auth.yaml", "--images", "again.yaml", *args("yaml")]
    reruns = []
    for side in (oracle, ours):
        (side.workdir / "again.yaml").write_text(side.file("ok.yaml") or "")
        reruns.append(run_again(side, again))
        assert reruns[-1].ok, reruns[-1]
        assert side.tags("mirror/app1") == ["v1", "v2"]
    assert success_file(reruns[1], "ok.yaml") == success_file(reruns[0], "ok.yaml") == "{}\n"

    richer = run_again(ours, [*again, "--success-includes-unchanged"])
    assert richer.ok, richer
    src = shared_source[0].host
    assert yaml.safe_load(success_file(richer, "ok.yaml")) == {
        f"{src}/lab/app0:v1": ["DST/mirror/app0:v1"],
        f"{src}/lab/app1:v1": ["DST/mirror/app1:v1"],
        f"{src}/lab/app1:v2": ["DST/mirror/app1:v2"],
    }
