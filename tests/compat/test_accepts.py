"""Issue 21's rows: what image-syncer v1.5.5 accepts and copies, syncer accepts and copies.

Each case names the Go code it follows (image-syncer v1.5.5, ``pkg/...``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lab.content import ImageSet
from lab.registry import HtpasswdAuth, RegistryServer
from tests.compat.conftest import BASIC_PASSWORD, BASIC_USER
from tests.support.compat import (
    IMAGE_SYNCER_SCRIPT,
    SYNCER_BARE,
    Side,
    run_both,
    run_both_as_script,
)
from tests.support.compat_cases import CONFIG_AUTH, INSECURE, files, login_file, single, split
from tests.support.registries import RegistryFactory, write_htpasswd

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}
#: A Harbor robot account's login: `$` in both halves, used as written.
ROBOT, ROBOT_PASSWORD = "robot$ci+mirror", "pa$1$$word"


def copied(*sides: Side, repo: str = "mirror/app0", auth: tuple[str, str] | None = None) -> None:
    """Each side succeeded and holds ``repo:v1``."""
    for side in sides:
        assert side.ok, side
        assert side.tags(repo, auth=auth) == ["v1"], side


def nothing_written(*sides: Side, repo: str = "mirror/app0") -> None:
    for side in sides:
        assert side.tags(repo) == [], side


@pytest.fixture
def make_robot_dest(registry_factory: RegistryFactory, tmp_path: Path) -> MakeDest:
    """Destinations that take the robot account's login only."""
    htpasswd = write_htpasswd(tmp_path / "robot.htpasswd", {ROBOT: ROBOT_PASSWORD})
    return lambda: registry_factory(auth=HtpasswdAuth(str(htpasswd)))


def test_row1_legacy_config_credentials_are_used_as_written(
    shared_source: Source, make_robot_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/client/config.go NewSyncConfig: expandEnv runs on an --auth file only;
    destinations are expanded in every form (pkg/utils/types/imageList.go NewImageList)."""
    config = {
        "auth": {
            "SRC": {"insecure": True},
            "DST": {"username": ROBOT, "password": ROBOT_PASSWORD, "insecure": True},
        },
        "images": {"SRC/lab/app0:v1": "DST/${TEAM}/app0"},
    }
    env = {"TEAM": "harbor", "ci": "not-this", "1": "nor-this"}
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_robot_dest, single(config), env=env
    )
    copied(oracle, ours, repo="harbor/app0", auth=(ROBOT, ROBOT_PASSWORD))


@pytest.mark.parametrize(
    "entry",
    [
        f"username: {BASIC_USER}",
        f"username: {BASIC_USER}\n  password: ${{UNSET_PASSWORD}}",
        "password: only-half",
    ],
    ids=["no-password", "unset-password", "no-username"],
)
def test_row2_half_a_login_falls_through_to_the_login_files(
    entry: str, shared_source: Source, make_basic_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/sync/source.go NewImageSource, destination.go NewImageDestination: credentials
    only when username and password are both non-empty; otherwise containers/image
    reads the login files. syncer does the same and warns, naming the entry."""
    auth = f"SRC:\n  insecure: true\nDST:\n  {entry}\n  insecure: true\n"
    writer = split(RULES, auth=auth, files={CONFIG_AUTH: login_file(BASIC_USER, BASIC_PASSWORD)})
    oracle, ours = run_both(tmp_path, shared_source[0].host, make_basic_dest, writer)
    copied(oracle, ours, auth=(BASIC_USER, BASIC_PASSWORD))
    dest = ours.dest.host
    assert f'auth["{dest}"]: ' in ours.err and "no credentials from this entry" in ours.err


@pytest.mark.parametrize(
    "first_password",
    [
        BASIC_PASSWORD,
        pytest.param(
            "wrong",
            marks=pytest.mark.differs(
                "image-syncer uses either of two keys for one registry at random; "
                "syncer the later one in the file, and warns"
            ),
        ),
    ],
    ids=["agree", "conflict"],
)
def test_row3_host_and_host_slash_in_one_file(
    first_password: str, shared_source: Source, make_basic_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/client/config.go GetAuth and pkg/utils/string.go RepoMathPrefix: `DST` and
    `DST/` are two map keys that both match; the length check never updates, so
    whichever the map yields last wins."""
    auth = {
        **INSECURE,
        "DST": {"username": BASIC_USER, "password": first_password, "insecure": True},
        "DST/": {"username": BASIC_USER, "password": BASIC_PASSWORD, "insecure": True},
    }
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_basic_dest, split(RULES, auth=auth)
    )
    basic = (BASIC_USER, BASIC_PASSWORD)
    copied(ours, auth=basic)
    if first_password == BASIC_PASSWORD:
        copied(oracle, auth=basic)
        assert "name the same registry" not in ours.err
    else:
        # image-syncer: either entry (both outcomes are seen).
        assert oracle.tags("mirror/app0", auth=basic) == ([] if oracle.code else ["v1"])
        assert f'using auth["{ours.dest.host}/"], the later one in the file' in ours.err


def test_row4_counts_below_their_least_value(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """cmd/image-syncer.go: -p and -r are plain ints; ants runs any pool size and
    client.go Run loops `times < retries`, so -p 0 -r -1 copies (once)."""
    writer = split(RULES, args=["-p", "0", "-r", "-1"])
    oracle, ours = run_both_as_script(tmp_path, shared_source[0].host, make_dest, writer)
    copied(oracle, ours)
    assert "-p/--proc 0 is below 1: using 1" in ours.err
    assert "-r/--retries -1 is below 0: using 0" in ours.err


def test_row5_a_tag_to_a_destination_digest(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/task/rule.go checkSourceAndDestinationURLs compares digests only when both
    sides have one: `src:v1 -> dst@<digest of v1>` copies; with another tag's digest
    the registry refuses the manifest, and the rule fails in both."""
    source, images = shared_source
    v1 = images.get("lab/app0", "v1").digest
    rules = {"SRC/lab/app0:v1": f"DST/pin/a@{v1}", "SRC/lab/app0:v2": f"DST/pin/b@{v1}"}
    writer = split(rules, args=["--output-success-images", "ok.yaml", "-r", "0"])
    oracle, ours = run_both(tmp_path, source.host, make_dest, writer)
    assert oracle.code != 0 and ours.code == 1, (oracle, ours)
    for side in (oracle, ours):
        assert side.digest("pin/a", v1) == v1 and side.tags("pin/a") == []
        assert side.digest("pin/b", v1) == ""
    theirs, mine = ((s.file("ok.yaml") or "").replace(s.dest.host, "DST") for s in (oracle, ours))
    assert mine == theirs == f"{source.host}/lab/app0:v1:\n- DST/pin/a@{v1}\n"
    assert "lab/app0:v2 is sha256:" in ours.out + ours.err


@pytest.mark.parametrize(
    ("word", "theirs", "mine"),
    [
        pytest.param(
            "JSON",
            "yaml",
            "json",
            marks=pytest.mark.differs("--output-images-format JSON means JSON in syncer"),
        ),
        ("xml", "yaml", "yaml"),
        ("yml", "yaml", "yaml"),
    ],
)
def test_row6_any_output_images_format(
    word: str, theirs: str, mine: str, shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/client/client.go Run: JSON when the flag is exactly "json", else YAML.
    syncer never stops for this flag: JSON in any case, YAML for any other word."""
    args = ["--output-success-images", "ok.out", "--output-images-format", word]
    writer = split(RULES, args=args)
    oracle, ours = run_both_as_script(tmp_path, shared_source[0].host, make_dest, writer)
    copied(oracle, ours)
    key = f"{shared_source[0].host}/lab/app0:v1"
    for side, fmt in ((oracle, theirs), (ours, mine)):
        text = (side.file("ok.out") or "").replace(side.dest.host, "DST")
        want = {key: ["DST/mirror/app0:v1"]}
        if fmt == "json":
            assert text == json.dumps(want, separators=(",", ":")) + "\n", side.tool
        else:
            assert text == yaml.safe_dump(want, default_flow_style=False), side.tool
    assert ("writing YAML" in ours.err) is (word == "xml")


@pytest.mark.parametrize(
    "prefix", [SYNCER_BARE, IMAGE_SYNCER_SCRIPT], ids=["syncer-bare", "image-syncer-script"]
)
@pytest.mark.parametrize("flag", ["--ima", "--aut"])
def test_row7_abbreviated_flags_are_unknown(
    flag: str,
    prefix: tuple[str, ...],
    shared_source: Source,
    make_dest: MakeDest,
    tmp_path: Path,
) -> None:
    """cmd/image-syncer.go: pflag knows whole flag names only."""

    def write(tmp: Path, src: str, dst: str) -> list[str]:
        args = split(RULES)(tmp, src, dst)
        return [flag if a in ("--images", "--auth") and a.startswith(flag) else a for a in args]

    oracle, ours = run_both(tmp_path, shared_source[0].host, make_dest, write, syncer_prefix=prefix)
    assert oracle.code != 0 and f"unknown flag: {flag}" in oracle.out, oracle
    assert ours.code == 2 and f"unrecognized arguments: {flag}" in ours.err, ours
    nothing_written(oracle, ours)


@pytest.mark.differs("image-syncer has no subcommands; a mistyped syncer subcommand must not sync")
def test_row8_a_mistyped_subcommand_is_refused(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """cmd/image-syncer.go: RootCmd takes any words and ignores them, so image-syncer
    copies; `syncer stauts --config …` is a usage error listing the subcommands."""
    config = {"auth": INSECURE, "images": RULES}

    def write(tmp: Path, src: str, dst: str) -> list[str]:
        return ["stauts", *single(config)(tmp, src, dst)]

    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_dest, write, syncer_prefix=SYNCER_BARE
    )
    copied(oracle)
    assert ours.code == 2 and "unknown command 'stauts': choose from " in ours.err, ours
    nothing_written(ours)


def test_errors_name_image_syncer_when_run_as_image_syncer(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """An error of the console script starts `image-syncer: error:`, never `syncer:`."""
    writer = files(
        {"images.yaml": "SRC/lab/app0:v1: [DST/mirror/app0\n"}, ["--images", "images.yaml"]
    )
    oracle, ours = run_both_as_script(tmp_path, shared_source[0].host, make_dest, writer)
    assert oracle.code != 0 and "decode image file images.yaml" in oracle.out, oracle
    assert ours.code == 2 and ours.err.startswith("image-syncer: error: images.yaml: "), ours
    assert "syncer: error" not in ours.err.replace("image-syncer: error", "")
