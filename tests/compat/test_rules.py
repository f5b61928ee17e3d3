"""Every rule form, and bad rules that fail alone (issue rows 2 and 3), against image-syncer.

One images file holds every form, each rule to its own destination
repository; both tools run it once and each rule is checked as its own case.
Bad rules sit among the good ones: image-syncer fails them and copies the rest
(exit 255), and so must syncer (exit 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.images import build_image_set
from tests.support.compat_rules import Run, retag, seeded_scenario, yaml_files
from tests.support.rule_forms import rule_forms

SET = build_image_set(11, repos=2, tags_per_repo=2, large_layer_size=0)
V1, V2 = SET.get("lab/app0", "v1").digest, SET.get("lab/app0", "v2").digest
SOLO = retag([SET.get("lab/app1", "v1")], "lab/solo", ["only-tag"])
LIST, OCI = SET.get("lab/multi", "list"), SET.get("lab/multi", "oci")

RULES = rule_forms(V1, V2)


@pytest.fixture(scope="module")
def run(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """Both tools, once, on every rule form."""
    root = tmp_path_factory.mktemp("compat-rules")
    with seeded_scenario(registry_binary, root, [*SET.images, *SOLO], yaml_files(RULES)) as run:
        yield run


def test_exit_class_and_summary(run: Run) -> None:
    """Bad rules make both tools fail the run, and only after copying the rest."""
    assert run.oracle.code == 255, run.oracle
    assert run.ours.code == 1, run.ours
    assert "Traceback" not in run.ours.err
    # The good rules landed on both sides before the exit.
    assert run.both_tags("r/one") == (["v1"], ["v1"])


@pytest.mark.parametrize(
    ("repo", "tags"),
    [
        ("r/all", ["v1", "v2"]),  # repo-wide
        ("r/one", ["v1"]),  # one tag
        ("r/two", ["v1", "v2"]),  # a tag list
        ("r/dup", ["v1", "v2"]),  # a repeated tag is copied once
        ("r/listed1", ["v2"]),  # a list of destinations (repeated destination once)
        ("r/listed2", ["v2"]),
        ("r/solo", ["only"]),  # repo-wide with one destination tag, one source tag
        ("r/digesttag", ["pinned"]),  # a digest source to a tag
    ],
)
def test_good_rules_agree(run: Run, repo: str, tags: list[str]) -> None:
    oracle, ours = run.both_tags(repo)
    assert oracle == ours == tags
    for tag in tags:
        assert run.digest(run.oracle, repo, tag) == run.digest(run.ours, repo, tag) != ""


def test_tag_list_renamed_by_position(run: Run) -> None:
    assert run.both_tags("r/renamed") == (["first", "second"], ["first", "second"])
    for side in run.sides():
        assert run.digest(side, "r/renamed", "first") == SET.get("lab/app1", "v1").digest
        assert run.digest(side, "r/renamed", "second") == SET.get("lab/app1", "v2").digest


def test_digest_source_without_a_tag(run: Run) -> None:
    """Copied by digest: no tag at the destination, the manifest there by its digest."""
    assert run.both_tags("r/bydigest") == ([], [])
    for side in run.sides():
        assert run.digest(side, "r/bydigest", V1) == V1


@pytest.mark.parametrize(
    ("repo", "rule", "why"),
    [
        ("r/many", "SRC/lab/app1", "2 selected tags but 1 destination tag"),
        ("r/upper", "SRC/lab/App0:v1", "invalid repository name"),
        ("r/mismatch", "SRC/lab/app1:v2", "1 source tag but 2 destination tags"),
        ("r/missing", "SRC/lab/app0:nope", "MANIFEST_UNKNOWN"),
        ("r/space", "SRC/lab/app0:v1,v2 ", "whitespace"),
    ],
)
def test_bad_rules_fail_alone(run: Run, repo: str, rule: str, why: str) -> None:
    assert run.both_tags(repo) == ([], [])
    assert run.reported(why), run.ours
    assert run.reported(f"{rule} -> "), run.ours  # the report names the rule
    named = rule.replace("SRC", run.source)
    errors = [ln for ln in run.oracle.log.splitlines() if "level=error" in ln and named in ln]
    assert errors, run.oracle.log  # image-syncer fails the same rule


def test_uppercase_destination_fails_alone(run: Run) -> None:
    assert run.both_tags("r/upper-dest") == ([], [])
    dest = f"{run.ours.dest.host}/r/Upper-dest"
    assert run.reported(f'destination "{dest}": invalid repository name'), run.ours
    assert "repository name must be lowercase" in run.oracle.log


@pytest.mark.differs("image-syncer re-serialises manifest lists, changing their digest")
def test_manifest_list_differs_on_purpose(run: Run) -> None:
    """Differs on purpose: image-syncer re-serialises manifest lists, changing their digest.

    syncer pushes the bytes it pulled, so a mirror's digest equals the source's
    and digest-pinned deployments keep working.
    """
    assert run.both_tags("r/list") == (["list"], ["list"])
    assert run.digest(run.ours, "r/list", "list") == LIST.digest
    assert run.digest(run.oracle, "r/list", "list") not in ("", LIST.digest)


def test_oci_image_agrees(run: Run) -> None:
    assert run.both_tags("r/oci") == (["oci"], ["oci"])
    assert run.digest(run.oracle, "r/oci", "oci") == run.digest(run.ours, "r/oci", "oci")
    assert run.digest(run.ours, "r/oci", "oci") == OCI.digest
