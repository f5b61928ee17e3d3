"""Which destination differences a copier is forgiven: only its documented limitations."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from bench.context import Bench
from bench.scenarios import checked
from bench.tools import Sample


def _bench(problem: str) -> Bench:
    return cast(Bench, SimpleNamespace(verify=lambda repos: problem))


def _sample(tool: str, ok: bool = True) -> Sample:
    return Sample(tool, 1.0, 1024, "process", 0, 0, ok)


def test_a_clean_destination_leaves_the_sample_alone() -> None:
    sample = _sample("image-syncer", ok=False)
    assert checked(_bench(""), sample, ["lab/app0"]) is sample


def test_skopeo_is_forgiven_the_nested_index_only() -> None:
    nested = checked(
        _bench("lab/multi:nested: source x, destination 404 None"), _sample("skopeo sync"), []
    )
    assert nested.ok and "skopeo 1.9 limitation" in nested.note
    other = checked(
        _bench("lab/app0:v1: source x, destination 404 None"), _sample("skopeo sync"), []
    )
    assert not other.ok and other.note.startswith("MISMATCH lab/app0:v1")


def test_image_syncer_is_forgiven_lab_multi_even_with_its_failure_exit() -> None:
    problem = "lab/multi:docker-list: source a, destination 200 b"
    multi = checked(_bench(problem), _sample("image-syncer", ok=False), [])
    assert multi.ok and "image-syncer v1.5.5 limitations" in multi.note
    other = checked(
        _bench("lab/app1:v2: source a, destination 404 None"), _sample("image-syncer"), []
    )
    assert not other.ok and other.note.startswith("MISMATCH")


def test_syncer_is_forgiven_nothing() -> None:
    problem = "lab/multi:nested: source x, destination 404 None"
    for tool in ("syncer sync", "syncer plan --wait (2w)"):
        result = checked(_bench(problem), _sample(tool), [])
        assert not result.ok and result.note.startswith("MISMATCH")
