"""Issue 21's rows: what image-syncer v1.5.5 accepts and copies, syncer accepts and copies.

Each case names the Go code it follows (image-syncer v1.5.5, ``pkg/...``). The
cases run side by side, once per module (:func:`tests.support.compat.run_all`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import yaml

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.compat.conftest import BASIC_PASSWORD, BASIC_USER
from tests.support.compat import (
    IMAGE_SYNCER_SCRIPT,
    SYNCER_BARE,
    SYNCER_SYNC,
    Side,
    Writer,
    run_all,
    run_both,
)
from tests.support.compat_cases import CONFIG_AUTH, INSECURE, files, login_file, single, split
from tests.support.compat_rules import Servers

Source = tuple[RegistryServer, ImageSet]
Runs = dict[str, tuple[Side, Side]]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}
BASIC = (BASIC_USER, BASIC_PASSWORD)
#: A Harbor robot account's login: `$` in both halves, used as written.
ROBOT, ROBOT_PASSWORD = "robot$ci+mirror", "pa$1$$word"
#: Row 2: an entry with half a login; the login file has the right one.
HALF_LOGINS = {
    "no-password": f"username: {BASIC_USER}",
    "unset-password": f"username: {BASIC_USER}\n  password: ${{UNSET_PASSWORD}}",
    "no-username": "password: only-half",
}
#: Row 6: --output-images-format words, and the format each tool writes.
FORMATS = {"JSON": ("yaml", "json"), "xml": ("yaml", "yaml"), "yml": ("yaml", "yaml")}
#: Row 7: abbreviated flags, through the bare `syncer` and the console script.
PREFIXES = {"syncer-bare": SYNCER_BARE, "image-syncer-script": IMAGE_SYNCER_SCRIPT}
ABBREVIATED = {"--ima": "--images", "--aut": "--auth"}


def copied(*sides: Side, repo: str = "mirror/app0", auth: tuple[str, str] | None = None) -> None:
    """Each side succeeded and holds ``repo:v1``."""
    for side in sides:
        assert side.ok, side
        assert side.tags(repo, auth=auth) == ["v1"], side


def nothing_written(*sides: Side, repo: str = "mirror/app0") -> None:
    for side in sides:
        assert side.tags(repo) == [], side


def _abbreviated(flag: str) -> Writer:
    def write(tmp: Path, src: str, dst: str) -> list[str]:
        args = split(RULES)(tmp, src, dst)
        return [flag if a == ABBREVIATED[flag] else a for a in args]

    return write


def _mistyped(tmp: Path, src: str, dst: str) -> list[str]:
    return ["stauts", *single({"auth": INSECURE, "images": RULES})(tmp, src, dst)]


def _cases(digest: str) -> dict[str, tuple[Writer, str, tuple[str, ...], dict[str, str] | None]]:
    """case -> (files, destination kind, how syncer is started, environment)."""
    legacy = {
        "auth": {
            "SRC": {"insecure": True},
            "DST": {"username": ROBOT, "password": ROBOT_PASSWORD, "insecure": True},
        },
        "images": {"SRC/lab/app0:v1": "DST/${TEAM}/app0"},
    }
    script, sync = IMAGE_SYNCER_SCRIPT, SYNCER_SYNC
    cases: dict[str, tuple[Writer, str, tuple[str, ...], dict[str, str] | None]] = {
        "row1": (single(legacy), "robot", sync, {"TEAM": "harbor", "ci": "no", "1": "no"}),
        "row4": (split(RULES, args=["-p", "0", "-r", "-1"]), "open", script, None),
        "row5": (
            split(
                {
                    "SRC/lab/app0:v1": f"DST/pin/a@{digest}",
                    "SRC/lab/app0:v2": f"DST/pin/b@{digest}",
                },
                args=["--output-success-images", "ok.yaml", "-r", "0"],
            ),
            "open",
            sync,
            None,
        ),
        "row8": (_mistyped, "open", SYNCER_BARE, None),
        "errors": (
            files({"images.yaml": "SRC/lab/app0:v1: [DST/x\n"}, ["--images", "images.yaml"]),
            "open",
            script,
            None,
        ),
    }
    for name, entry in HALF_LOGINS.items():
        auth = f"SRC:\n  insecure: true\nDST:\n  {entry}\n  insecure: true\n"
        login = {CONFIG_AUTH: login_file(BASIC_USER, BASIC_PASSWORD)}
        cases[f"row2-{name}"] = (split(RULES, auth=auth, files=login), "basic", sync, None)
    for name, first in (("agree", BASIC_PASSWORD), ("conflict", "wrong")):
        auth = {
            **INSECURE,
            "DST": {"username": BASIC_USER, "password": first, "insecure": True},
            "DST/": {"username": BASIC_USER, "password": BASIC_PASSWORD, "insecure": True},
        }
        cases[f"row3-{name}"] = (split(RULES, auth=auth), "basic", sync, None)
    for word in FORMATS:
        args = ["--output-success-images", "ok.out", "--output-images-format", word]
        cases[f"row6-{word}"] = (split(RULES, args=args), "open", script, None)
    for flag in ABBREVIATED:
        for name, prefix in PREFIXES.items():
            cases[f"row7{flag}-{name}"] = (_abbreviated(flag), "open", prefix, None)
    return cases


@pytest.fixture(scope="module")
def runs(
    shared_source: Source, dest_pool: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Runs:
    """Both tools on every case, side by side."""
    root, (source, images) = tmp_path_factory.mktemp("accepts"), shared_source
    kinds: dict[str, Callable[[], RegistryServer]] = {
        "open": dest_pool.start,
        "basic": partial(dest_pool.start, {BASIC_USER: BASIC_PASSWORD}),
        "robot": partial(dest_pool.start, {ROBOT: ROBOT_PASSWORD}),
    }
    jobs = {
        case: partial(
            run_both, root / case, source.host, kinds[kind], writer, syncer_prefix=prefix, env=env
        )
        for case, (writer, kind, prefix, env) in _cases(images.get("lab/app0", "v1").digest).items()
    }
    return run_all(jobs)


def test_row1_legacy_config_credentials_are_used_as_written(runs: Runs) -> None:
    """pkg/client/config.go NewSyncConfig: expandEnv runs on an --auth file only;
    destinations are expanded in every form (pkg/utils/types/imageList.go NewImageList)."""
    copied(*runs["row1"], repo="harbor/app0", auth=(ROBOT, ROBOT_PASSWORD))


@pytest.mark.parametrize("name", list(HALF_LOGINS))
def test_row2_half_a_login_falls_through_to_the_login_files(name: str, runs: Runs) -> None:
    """pkg/sync/source.go NewImageSource, destination.go NewImageDestination: credentials
    only when username and password are both non-empty; otherwise containers/image
    reads the login files. syncer does the same and warns, naming the entry."""
    oracle, ours = runs[f"row2-{name}"]
    copied(oracle, ours, auth=BASIC)
    assert f'auth["{ours.dest.host}"]: ' in ours.err
    assert "no credentials from this entry" in ours.err


def test_row3_host_and_host_slash_agreeing(runs: Runs) -> None:
    """pkg/client/config.go GetAuth, pkg/utils/string.go RepoMathPrefix: `DST` and `DST/`
    are two map keys that both match; with one login in both, either serves."""
    oracle, ours = runs["row3-agree"]
    copied(oracle, ours, auth=BASIC)
    assert "name the same registry" not in ours.err


@pytest.mark.differs("image-syncer uses either of two keys for one registry; syncer the later")
def test_row3_host_and_host_slash_conflicting(runs: Runs) -> None:
    """GetAuth never updates the length it compares with, so whichever key the map
    yields last wins: a random one. syncer takes the later in the file, and says so."""
    oracle, ours = runs["row3-conflict"]
    copied(ours, auth=BASIC)
    # image-syncer: either entry (both outcomes are seen).
    assert oracle.tags("mirror/app0", auth=BASIC) == ([] if oracle.code else ["v1"])
    assert f'using auth["{ours.dest.host}/"], the later one in the file' in ours.err


def test_row4_counts_below_their_least_value(runs: Runs) -> None:
    """cmd/image-syncer.go: -p and -r are plain ints; the pool takes any size and
    client.go Run loops `times < retries`, so -p 0 -r -1 copies (once)."""
    oracle, ours = runs["row4"]
    copied(oracle, ours)
    assert "-p/--proc 0 is below 1: using 1" in ours.err
    assert "-r/--retries -1 is below 0: using 0" in ours.err


def test_row5_a_tag_to_a_destination_digest(runs: Runs, shared_source: Source) -> None:
    """pkg/task/rule.go checkSourceAndDestinationURLs compares digests only when both
    sides have one: `src:v1 -> dst@<digest of v1>` copies; with another tag's digest
    the registry refuses the manifest, and the rule fails in both."""
    oracle, ours = runs["row5"]
    source, images = shared_source
    v1 = images.get("lab/app0", "v1").digest
    assert oracle.code != 0 and ours.code == 1, (oracle, ours)
    for side in (oracle, ours):
        assert side.digest("pin/a", v1) == v1 and side.tags("pin/a") == []
        assert side.digest("pin/b", v1) == ""
    theirs, mine = ((s.file("ok.yaml") or "").replace(s.dest.host, "DST") for s in (oracle, ours))
    assert mine == theirs == f"{source.host}/lab/app0:v1:\n- DST/pin/a@{v1}\n"
    assert "lab/app0:v2 is sha256:" in ours.out + ours.err


@pytest.mark.parametrize(
    "word",
    [
        pytest.param(
            "JSON", marks=pytest.mark.differs("--output-images-format JSON means JSON in syncer")
        ),
        "xml",
        "yml",
    ],
)
def test_row6_any_output_images_format(word: str, runs: Runs, shared_source: Source) -> None:
    """pkg/client/client.go Run: JSON when the flag is exactly "json", else YAML.
    syncer never stops for this flag: JSON in any case, YAML for any other word."""
    oracle, ours = runs[f"row6-{word}"]
    copied(oracle, ours)
    want = {f"{shared_source[0].host}/lab/app0:v1": ["DST/mirror/app0:v1"]}
    for side, fmt in zip((oracle, ours), FORMATS[word], strict=True):
        text = (side.file("ok.out") or "").replace(side.dest.host, "DST")
        if fmt == "json":
            assert text == json.dumps(want, separators=(",", ":")) + "\n", side.tool
        else:
            assert text == yaml.safe_dump(want, default_flow_style=False), side.tool
    assert ("writing YAML" in ours.err) is (word == "xml")


@pytest.mark.parametrize("prefix", list(PREFIXES))
@pytest.mark.parametrize("flag", list(ABBREVIATED))
def test_row7_abbreviated_flags_are_unknown(flag: str, prefix: str, runs: Runs) -> None:
    """cmd/image-syncer.go: pflag knows whole flag names only."""
    oracle, ours = runs[f"row7{flag}-{prefix}"]
    assert oracle.code != 0 and f"unknown flag: {flag}" in oracle.out, oracle
    assert ours.code == 2 and f"unrecognized arguments: {flag}" in ours.err, ours
    nothing_written(oracle, ours)


@pytest.mark.differs("image-syncer has no subcommands; a mistyped syncer subcommand must not sync")
def test_row8_a_mistyped_subcommand_is_refused(runs: Runs) -> None:
    """cmd/image-syncer.go: RootCmd takes any words and ignores them, so image-syncer
    copies; `syncer stauts --config …` is a usage error listing the subcommands."""
    oracle, ours = runs["row8"]
    copied(oracle)
    assert ours.code == 2 and "unknown command 'stauts': choose from " in ours.err, ours
    nothing_written(ours)


def test_errors_name_image_syncer_when_run_as_image_syncer(runs: Runs) -> None:
    """An error of the console script starts `image-syncer: error:`, never `syncer:`."""
    oracle, ours = runs["errors"]
    assert oracle.code != 0 and "decode image file images.yaml" in oracle.out, oracle
    assert ours.code == 2 and ours.err.startswith("image-syncer: error: images.yaml: "), ours
    assert "syncer: error" not in ours.err.replace("image-syncer: error", "")
