"""Row 8: both tools log in to a Basic-auth destination from the same places, in the same order."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.compat.conftest import BASIC_PASSWORD, BASIC_USER
from tests.support.compat import Side, run_both
from tests.support.compat_cases import (
    CONFIG_AUTH,
    DOCKER_CONFIG,
    INSECURE,
    RUNTIME_AUTH,
    login_file,
    split,
)

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}
#: Login files for the destination, with the right password and a wrong one.
RIGHT = login_file(BASIC_USER, BASIC_PASSWORD)
WRONG = login_file(BASIC_USER, "wrong")


def run(
    tmp_path: Path,
    source: Source,
    make_dest: MakeDest,
    *,
    auth: Mapping[str, Any] | None = None,
    files: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    rules: Mapping[str, Any] = RULES,
) -> tuple[Side, Side]:
    # -r 1: one retry absorbs a transient hiccup; a refusal costs one extra round.
    writer = split(rules, auth=auth, files=files, args=["-r", "1"])
    return run_both(tmp_path, source[0].host, make_dest, writer, env=env)


def assert_refused(*sides: Side) -> None:
    """Denied: non-zero exit (syncer: 1), nothing landed, and no password in any output."""
    for side in sides:
        assert side.code != 0, side
        assert side.tool == "image-syncer" or side.code == 1, side
        assert BASIC_PASSWORD not in side.out + side.err, side.tool


def basic_tags(side: Side, repo: str = "mirror/app0") -> list[str]:
    """Tags at a Basic-auth destination, read with its login."""
    return side.tags(repo, auth=(BASIC_USER, BASIC_PASSWORD))


def test_env_vars_expand_in_auth_and_destinations(
    shared_source: Source, make_basic_dest: MakeDest, tmp_path: Path
) -> None:
    """A --auth login with `$VAR` and `${VAR}` in it, and in a destination: both expand them."""
    auth = {
        **INSECURE,
        "DST": {"username": "$MIRROR_USER", "password": "${MIRROR_PW}", "insecure": True},
    }
    env = {"MIRROR_USER": BASIC_USER, "MIRROR_PW": BASIC_PASSWORD, "TEAM": "team-a"}
    rules = {"SRC/lab/app0:v1": "DST/${TEAM}/app0"}
    oracle, ours = run(tmp_path, shared_source, make_basic_dest, auth=auth, env=env, rules=rules)
    for side in (oracle, ours):
        assert side.ok, side
        assert basic_tags(side, "team-a/app0") == ["v1"]


def test_wrong_password_is_refused(
    shared_source: Source, make_basic_dest: MakeDest, tmp_path: Path
) -> None:
    auth = {**INSECURE, "DST": {"username": BASIC_USER, "password": "wrong", "insecure": True}}
    oracle, ours = run(tmp_path, shared_source, make_basic_dest, auth=auth)
    assert_refused(oracle, ours)
    assert basic_tags(oracle) == basic_tags(ours) == []


@pytest.mark.parametrize("where", [CONFIG_AUTH, DOCKER_CONFIG], ids=["xdg-config", "docker"])
def test_login_file(
    where: str, shared_source: Source, make_basic_dest: MakeDest, tmp_path: Path
) -> None:
    """podman's auth.json and docker's config.json: both log in from it (runtime: below)."""
    oracle, ours = run(tmp_path, shared_source, make_basic_dest, files={where: RIGHT})
    for side in (oracle, ours):
        assert side.ok, side
        assert basic_tags(side) == ["v1"]


@pytest.mark.parametrize(
    ("first", "later", "copies"),
    [
        (RUNTIME_AUTH, DOCKER_CONFIG, True),
        (CONFIG_AUTH, DOCKER_CONFIG, False),
        (RUNTIME_AUTH, CONFIG_AUTH, False),
    ],
    ids=["runtime-over-docker", "xdg-config-over-docker", "runtime-over-xdg-config"],
)
def test_first_login_file_that_knows_the_registry_wins(
    first: str,
    later: str,
    copies: bool,
    shared_source: Source,
    make_basic_dest: MakeDest,
    tmp_path: Path,
) -> None:
    """containers/image's order: the earlier file's entry is used, right or wrong."""
    right, wrong = RIGHT, WRONG
    files = {first: right, later: wrong} if copies else {first: wrong, later: right}
    oracle, ours = run(tmp_path, shared_source, make_basic_dest, files=files)
    if copies:
        for side in (oracle, ours):
            assert side.ok, side
            assert basic_tags(side) == ["v1"]
    else:
        assert_refused(oracle, ours)
        assert basic_tags(oracle) == basic_tags(ours) == []


def test_login_file_keys_cover_their_namespace_and_host_only(
    shared_source: Source, make_basic_dest: MakeDest, tmp_path: Path
) -> None:
    """`DST/mirror` covers that namespace only; a login filed under the source's host
    (the right password) never reaches the destination: in both tools."""
    right = json.loads(RIGHT)["auths"]["DST"]
    files = {CONFIG_AUTH: json.dumps({"auths": {"DST/mirror": right, "SRC": right}})}
    rules = {"SRC/lab/app0:v1": "DST/mirror/app0", "SRC/lab/app0:v2": "DST/other/app0"}
    oracle, ours = run(tmp_path, shared_source, make_basic_dest, files=files, rules=rules)
    assert_refused(oracle, ours)
    for side in (oracle, ours):
        assert basic_tags(side) == ["v1"]
        assert basic_tags(side, "other/app0") == []


@pytest.mark.differs("podman and skopeo users set REGISTRY_AUTH_FILE; containers/image ignores it")
def test_registry_auth_file(
    shared_source: Source, make_basic_dest: MakeDest, tmp_path: Path
) -> None:
    """syncer reads $REGISTRY_AUTH_FILE (first, as podman does); image-syncer never does."""
    files = {"podman-auth.json": RIGHT}
    env = {"REGISTRY_AUTH_FILE": "podman-auth.json"}
    oracle, ours = run(tmp_path, shared_source, make_basic_dest, files=files, env=env)
    assert_refused(oracle)
    assert ours.ok, ours
    assert basic_tags(ours) == ["v1"]
    assert basic_tags(oracle) == []


@pytest.mark.differs("image-syncer picks a random entry among matching prefixes; longest wins")
def test_longest_auth_prefix_wins(
    shared_source: Source, make_basic_dest: MakeDest, tmp_path: Path
) -> None:
    """`DST` (wrong) and `DST/mirror` (right): syncer always uses the longer prefix."""
    auth = {
        **INSECURE,
        "DST": {"username": BASIC_USER, "password": "wrong", "insecure": True},
        "DST/mirror": {"username": BASIC_USER, "password": BASIC_PASSWORD, "insecure": True},
    }
    oracle, ours = run(tmp_path, shared_source, make_basic_dest, auth=auth)
    assert ours.ok, ours
    assert basic_tags(ours) == ["v1"]
    # image-syncer: whichever entry its map iteration met last (either outcome is seen).
    assert basic_tags(oracle) == ([] if oracle.code else ["v1"])
