"""Row 6: --output-success-images is the file image-syncer writes, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from syncer.lab.content import ImageSet
from syncer.lab.registry import RegistryServer
from tests.compat.cases import split
from tests.compat.harness import IMAGE_SYNCER_SCRIPT, SYNCER_BARE, Side, run_again, run_both

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]


def success_file(side: Side, name: str) -> str:
    """The file ``side`` wrote, with its destination host put back to ``DST``."""
    text = side.file(name)
    assert text is not None, side
    return text.replace(side.dest.host, "DST")


def args(fmt: str) -> list[str]:
    return ["--output-success-images", f"ok.{fmt}", "--output-images-format", fmt, "-r", "0"]


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


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_second_run_copies_nothing_and_says_so(
    fmt: str, shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """Unchanged images are not "success images": both write an empty map on the rerun.

    syncer's richer view (``--success-includes-unchanged``) lists them, and the
    file loads back as ``--images``.
    """
    rules = {"SRC/lab/app0:v1": "DST/mirror/app0"}
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_dest, split(rules, args=args(fmt))
    )
    assert oracle.ok and ours.ok, (oracle, ours)
    oracle2, ours2 = run_again(oracle), run_again(ours)
    assert oracle2.ok and ours2.ok, (oracle2, ours2)
    assert success_file(ours2, f"ok.{fmt}") == success_file(oracle2, f"ok.{fmt}")
    assert success_file(ours2, f"ok.{fmt}").strip() == "{}"

    richer = run_again(ours, [*ours.argv, "--success-includes-unchanged"])
    assert richer.ok, richer
    data = json.loads(success_file(richer, f"ok.{fmt}")) if fmt == "json" else None
    data = data or yaml.safe_load(success_file(richer, f"ok.{fmt}"))
    assert data == {f"{shared_source[0].host}/lab/app0:v1": ["DST/mirror/app0:v1"]}


def test_failed_images_are_left_out(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """A missing tag fails; the file lists only what was copied, and both exit non-zero."""
    rules = {"SRC/lab/app0:v1,nope": "DST/mirror/app0"}
    oracle, ours = run_both(
        tmp_path,
        shared_source[0].host,
        make_dest,
        split(rules, args=args("yaml")),
        syncer_prefix=IMAGE_SYNCER_SCRIPT,
    )
    assert oracle.code != 0 and ours.code == 1, (oracle, ours)
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == ["v1"]
    assert success_file(ours, "ok.yaml") == success_file(oracle, "ok.yaml")
    assert yaml.safe_load(success_file(ours, "ok.yaml")) == {
        f"{shared_source[0].host}/lab/app0:v1": ["DST/mirror/app0:v1"]
    }


def test_success_file_feeds_back_as_images(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """Each tool's success file, given back to it as --images, is a valid no-op run."""
    rules = {"SRC/lab/app1:v1,v2": "DST/mirror/app1"}
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_dest, split(rules, args=args("json"))
    )
    assert oracle.ok and ours.ok, (oracle, ours)
    for side in (oracle, ours):
        (side.workdir / "again.json").write_text(side.file("ok.json") or "")
        again = run_again(side, ["--auth", "auth.yaml", "--images", "again.json", "-r", "0"])
        assert again.ok, again
        assert side.tags("mirror/app1") == ["v1", "v2"]
