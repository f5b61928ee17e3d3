"""Tag regexes mean what they mean in Go (issue row 4), against image-syncer.

One source repository holds six distinct images under tags chosen to tell
regex dialects apart; every ``/…/`` rule goes to its own destination
repository, and both tools run the file once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lab.images import build_image_set
from tests.support.compat_rules import Run, retag, seeded_scenario, yaml_files

TAGS = ["v1", "v2", "v10", "latest", "123", "1.0-alpine"]
SINGLE = [i for i in build_image_set(13, repos=3, tags_per_repo=2, large_layer_size=0).images][:6]
IMAGES = retag(SINGLE, "lab/tags", TAGS)
DIGEST = {i.tag: i.digest for i in IMAGES}

#: (destination repository, regex, tags both tools copy)
MATCHING = [
    ("x/posix", "^v[[:digit:]]$", ["v1", "v2"]),  # Python's re matches nothing here
    ("x/letter", r"\pL", ["1.0-alpine", "latest", "v1", "v10", "v2"]),
    ("x/number", r"^\pN+$", ["123"]),
    ("x/unanchored", "1", ["1.0-alpine", "123", "v1", "v10"]),
    ("x/anchored", "^latest$", ["latest"]),
    ("x/perl", r"^v\d+$", ["v1", "v10", "v2"]),
    ("x/alternation", "^v(1|2)$", ["v1", "v2"]),
    ("x/flags", "(?i)^V1$", ["v1"]),
    ("x/quoted", r"\Q1.0\E", ["1.0-alpine"]),
    ("x/none", "^nothing$", []),
]
#: (destination repository, regex, what syncer reports)
FAILING = [
    ("x/lookahead", "^v(?=1)", "invalid perl operator"),
    ("x/lookbehind", "(?<!v)1", "invalid perl operator"),
    ("x/backref", r"(v)\1", "invalid escape sequence"),
    ("x/unclosed", "[v", "missing ]"),
]
RULES: dict[str, str] = {f"SRC/lab/tags:/{rx}/": f"DST/{repo}" for repo, rx, _ in MATCHING}
RULES.update({f"SRC/lab/tags:/{rx}/": f"DST/{repo}" for repo, rx, _ in FAILING})
# Destination tags after a regex rename the matches in the source's listing
# order (the registry lists tags sorted); a count that differs fails the rule.
RULES["SRC/lab/tags:/^v[0-9]+$/"] = "DST/x/renamed:a,b,c"
RULES["SRC/lab/tags:/^v[12]$/"] = "DST/x/short:only"
RULES["SRC/lab/tags:/^lat/"] = "DST/x/one:stable"


@pytest.fixture(scope="module")
def run(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """Both tools, once, on every regex rule."""
    root = tmp_path_factory.mktemp("compat-regex")
    with seeded_scenario(registry_binary, root, IMAGES, yaml_files(RULES)) as run:
        yield run


def test_exit_class(run: Run) -> None:
    """Regexes that Go cannot compile fail their rules; the run fails after copying the rest."""
    assert run.oracle.code == 255, run.oracle
    assert run.ours.code == 1, run.ours


@pytest.mark.parametrize(("repo", "regex", "tags"), MATCHING, ids=[m[0] for m in MATCHING])
def test_matching_agrees(run: Run, repo: str, regex: str, tags: list[str]) -> None:
    assert run.both_tags(repo) == (tags, tags)
    for tag in tags:
        for side in run.sides():
            assert run.digest(side, repo, tag) == DIGEST[tag]


@pytest.mark.parametrize(("repo", "regex", "why"), FAILING, ids=[f[0] for f in FAILING])
def test_uncompilable_regex_fails_its_rule(run: Run, repo: str, regex: str, why: str) -> None:
    assert run.both_tags(repo) == ([], [])
    assert run.reported(f"SRC/lab/tags:/{regex}/"), run.ours
    assert run.reported(f"invalid regex {regex!r}: {why}"), run.ours
    assert "invalid tag regex" in run.oracle.log


def test_regex_with_destination_tags_renames_in_listing_order(run: Run) -> None:
    assert run.both_tags("x/renamed") == (["a", "b", "c"], ["a", "b", "c"])
    listed = requests.get(f"http://{run.source}/v2/lab/tags/tags/list", timeout=10).json()["tags"]
    order = [t for t in listed if t in ("v1", "v2", "v10")]
    assert sorted(order) == ["v1", "v10", "v2"]
    for side in run.sides():
        assert [run.digest(side, "x/renamed", t) for t in "abc"] == [DIGEST[t] for t in order]


def test_regex_with_too_few_destination_tags_fails(run: Run) -> None:
    assert run.both_tags("x/short") == ([], [])
    assert run.reported("2 selected tags but 1 destination tag"), run.ours


def test_regex_with_one_match_and_one_destination_tag(run: Run) -> None:
    assert run.both_tags("x/one") == (["stable"], ["stable"])
    for side in run.sides():
        assert run.digest(side, "x/one", "stable") == DIGEST["latest"]
