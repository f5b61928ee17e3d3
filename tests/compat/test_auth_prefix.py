"""Which auth entry serves which repository, against image-syncer.

The destination demands HTTP Basic auth (user ``robot``, password ``0123``)
and the auth file has no entry for its host, only for path prefixes, so a
rule succeeds exactly when its destination's entry is found. The file is
written as users write it: ``password: 0123`` unquoted (Go keeps the text;
YAML 1.1 would read the number 83), tabs after colons, and a ``$VAR``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.images import build_image_set
from tests.support.compat_rules import Run, run_scenario, seed, servers, yaml_files

SET = build_image_set(19, repos=1, tags_per_repo=1, large_layer_size=0)
IMAGE = SET.get("lab/app0", "v1")
USER, PASSWORD = "robot", "0123"

AUTH = """\
SRC:
  insecure: true
DST/team:
  username: robot
  password: 0123
  insecure: true
DST/slash/:
  username:\trobot
  password:\t0123\t
  insecure: true
DST/ab:
  username: robot
  password: 0123
  insecure: true
DST/exact/app:
  username: robot
  password: 0123
  insecure: true
DST/env:
  username: $ROBOT_USER
  password: ${ROBOT_PASSWORD}
  insecure: true
DST/nopass:
  username: robot
  insecure: true
DST/multi:
  username: robot
  password: wrong
  insecure: true
DST/multi/deep:
  username: robot
  password: 0123
  insecure: true
"""
#: (destination repository, how the entry is found, whether both tools copy)
CASES = [
    ("team/app", "a path prefix at a '/' boundary", True),
    ("team/sub/app", "a path prefix two levels up", True),
    ("slash/app", "a prefix written with a trailing '/'", True),
    ("abc/app", "'DST/ab' is no prefix of 'DST/abc': no entry, anonymous, refused", False),
    ("env/app", "credentials from $VAR and ${VAR}", True),
    ("nopass/app", "an entry without a password gives no login: anonymous, refused", False),
]
DESTS = [f"DST/{repo}" for repo, _, _ in CASES] + ["DST/exact/app", "DST/multi/deep/app"]
IMAGES = "SRC/lab/app0:v1:\t\n" + "".join(f"  - {d}\t\n" for d in DESTS)


@pytest.fixture(scope="module")
def run(
    image_syncer: Path, registry_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """Both tools, once, against a Basic-auth destination."""
    root = tmp_path_factory.mktemp("compat-auth")
    env = {"ROBOT_USER": USER, "ROBOT_PASSWORD": PASSWORD}
    with servers(registry_binary, root) as pool:
        source = pool.start()
        seed(source, SET.images)
        yield run_scenario(
            root / "run",
            source,
            lambda: pool.start({USER: PASSWORD}),
            yaml_files({}, raw_auth=AUTH, raw_images=IMAGES),
            auth=(USER, PASSWORD),
            env=env,
        )


def test_exit_class(run: Run) -> None:
    """The refused destination fails both runs; nothing else stops them."""
    assert run.oracle.code == 255, run.oracle
    assert run.ours.code == 1, run.ours


@pytest.mark.parametrize(("repo", "how", "copied"), CASES, ids=[c[0] for c in CASES])
def test_prefix_matching_agrees(run: Run, repo: str, how: str, copied: bool) -> None:
    tags = ["v1"] if copied else []
    assert run.both_tags(repo) == (tags, tags), how
    for side in run.sides():
        assert run.digest(side, repo, "v1") == (IMAGE.digest if copied else "")


def test_entry_without_password_is_named(run: Run) -> None:
    """pkg/sync/destination.go: no login without both halves; syncer warns, in the
    --log file (logrus quoting escapes the quotes)."""
    entry = f'auth[\\"{run.ours.dest.host}/nopass\\"]'
    assert run.reported(f"{entry}: username without password: no credentials from this entry")


def test_refused_destination_is_reported(run: Run) -> None:
    assert run.reported("abc/app:v1: "), run.ours
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for text in (run.ours.out, run.ours.err, run.ours.log):
        assert basic not in text and f"{USER}:{PASSWORD}" not in text


@pytest.mark.differs("an entry keyed by the full repository serves it in syncer")
def test_entry_for_the_whole_repository_differs_on_purpose(run: Run) -> None:
    """Differs on purpose: an entry keyed by the full repository serves it in syncer.

    image-syncer's prefix check indexes past the end of the string when the key
    equals the repository (a runtime panic that its pool swallows: the image is
    never copied and no failure is counted).
    """
    assert run.tags(run.ours, "exact/app") == ["v1"]
    assert run.tags(run.oracle, "exact/app") == []


@pytest.mark.differs("the longest matching prefix serves a repository in syncer")
def test_longest_prefix_wins_differs_on_purpose(run: Run) -> None:
    """Differs on purpose: the longest matching prefix serves a repository in syncer.

    image-syncer means to, but never records the length it found, so any
    matching entry may win (Go randomises map order): here the wrong password
    of 'DST/multi' some runs and not others. Only syncer's result is asserted.
    """
    assert run.tags(run.ours, "multi/deep/app") == ["v1"]
    assert run.digest(run.ours, "multi/deep/app", "v1") == IMAGE.digest
