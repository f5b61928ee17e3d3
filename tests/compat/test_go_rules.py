"""Rules as image-syncer v1.5.5 reads them, beside syncer: one run, a destination per rule.

From ``pkg/utils/types/imageList.go`` ``NewImageList`` (destinations, each
through ``os.ExpandEnv``), ``pkg/utils/url.go`` ``GenerateRepoURLs`` (tags,
digests and regexes of a rule) and ``pkg/task/rule.go`` (``NewRuleTask``,
``checkSourceAndDestinationURLs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.content import ImageSet
from lab.images import build_image_set
from lab.registry import RegistryServer
from tests.support.compat import run_both
from tests.support.compat_cases import split
from tests.support.compat_rules import Run, seeded_scenario, yaml_files

SET = build_image_set(23, repos=2, tags_per_repo=2, large_layer_size=0)
V1, V2 = SET.get("lab/app0", "v1").digest, SET.get("lab/app0", "v2").digest
SINGLE = [i for i in SET.images if i.repo.startswith("lab/app")]
Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]

#: destination repository -> (rule, what both tools leave there: tags, or digests
#: for a rule copied by digest, the Go code it follows)
CASES: dict[str, tuple[tuple[str, str], list[str], str]] = {
    "g/dollar1": (
        ("SRC/lab/app0:v1", "DST/g/dollar1$1"),
        ["v1"],
        "NewImageList: os.ExpandEnv makes `$1` nothing",
    ),
    "g/dollar2": (
        ("SRC/lab/app0:v2", "DST/g/dollar2$$"),
        ["v2"],
        "NewImageList: os.ExpandEnv makes `$$` nothing",
    ),
    "g/unset": (
        ("SRC/lab/app0:v1,v2", "DST/g/${UNSET_SEGMENT}/x"),
        [],
        "NewImageList: an unset variable leaves `g//x`, no repository name",
    ),
    "g/comma": (
        ("SRC/lab/app1:v1,", "DST/g/comma"),
        ["v1"],
        "GenerateRepoURLs: split on ',', the empty tag fails alone",
    ),
    "g/tagdigest": (
        (f"SRC/lab/app0:nope@{V2}", "DST/g/tagdigest"),
        [V2],
        "GenerateRepoURLs: a reference with tag and digest is Canonical, the digest wins",
    ),
    "g/emptyregex": (
        ("SRC/lab/app1://", "DST/g/emptyregex"),
        ["v1", "v2"],
        "GenerateRepoURLs: `://` is the empty regex, which matches every tag",
    ),
    "g/samedigest": (
        (f"SRC/lab/app0@{V1}", f"DST/g/samedigest@{V1}"),
        [V1],
        "checkSourceAndDestinationURLs: the two digests agree",
    ),
    "g/otherdigest": (
        (f"SRC/lab/app0@{V2}", f"DST/g/otherdigest@{V1}"),
        [],
        "checkSourceAndDestinationURLs: the digest of source and destination must match",
    ),
    "g/badtag": (
        ("SRC/lab/app0:v1,no!tag", "DST/g/badtag"),
        [],
        "GenerateRepoURLs: one tag that does not parse fails the whole rule",
    ),
    "g/tagcase": (
        ("SRC/lab/app1:v2", "DST/g/tagcase:Stable_V2"),
        ["Stable_V2"],
        "GenerateRepoURLs: a destination tag is kept as written, capitals too",
    ),
    "g/slash": (
        ("SRC/lab/app1:v1", "DST/g/slash/"),
        [],
        "GenerateRepoURLs: a trailing '/' is no repository name",
    ),
}


@pytest.fixture(scope="module")
def run(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """Both tools, once, on every rule."""
    root = tmp_path_factory.mktemp("compat-go-rules")
    rules = dict(rule for rule, _, _ in CASES.values())
    assert len(rules) == len(CASES), "one source key per case"
    with seeded_scenario(registry_binary, root, SINGLE, yaml_files(rules)) as run:
        yield run


def test_exit_class(run: Run) -> None:
    """Rules that fail make both runs fail, after copying the rest."""
    assert run.oracle.code == 255, run.oracle
    assert run.ours.code == 1, run.ours


@pytest.mark.parametrize("repo", list(CASES))
def test_rules_both_tools_read_alike(run: Run, repo: str) -> None:
    _, want, go = CASES[repo]
    repo = "g/unset/x" if repo == "g/unset" else repo
    digests = [w for w in want if w.startswith("sha256:")]
    for side in run.sides():
        assert run.tags(side, repo) == sorted(set(want) - set(digests)), (go, side.tool)
        for digest in digests:
            assert run.digest(side, repo, digest) == digest, (go, side.tool)
        if not want:
            assert run.digest(side, repo, V1) == run.digest(side, repo, V2) == "", go


@pytest.mark.parametrize(
    ("bad", "go"),
    [
        (("", "DST/g/empty-source"), "rule.go NewRuleTask: source url should not be empty"),
        (("SRC/lab/app1:v1", 5), "NewImageList: destination should only be string or []string"),
        (("SRC/lab/app1:v2", ""), "NewImageList: empty destination is not supported"),
    ],
    ids=["empty-source", "number-destination", "empty-destination"],
)
@pytest.mark.differs("one bad rule fails alone in syncer; image-syncer refuses the whole list")
def test_a_bad_rule_stops_image_syncer_before_any_copy(
    bad: tuple[str, object], go: str, shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """client.go Run returns at the first rule it cannot build: nothing is copied."""
    rules = {"SRC/lab/app0:v1": "DST/mirror/app0", bad[0]: bad[1]}
    oracle, ours = run_both(tmp_path, shared_source[0].host, make_dest, split(rules))
    assert oracle.code != 0 and oracle.tags("mirror/app0") == [], (go, oracle)
    assert ours.code == 1 and ours.tags("mirror/app0") == ["v1"], (go, ours)
