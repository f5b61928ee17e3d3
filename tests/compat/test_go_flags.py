"""Flags as image-syncer v1.5.5 reads them, beside syncer's console script.

From ``cmd/image-syncer.go`` (``init``: the flag set, read by cobra's pflag;
``RootCmd.RunE``: ``utils.RemoveEmptyItems`` on ``--os``/``--arch``; ``Execute``)
and ``pkg/client/config.go`` ``NewSyncConfig``.
"""

from __future__ import annotations

from functools import partial

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import Side, run_all, run_both_as_script
from tests.support.compat_cases import INSECURE, files, split
from tests.support.compat_rules import Servers

Source = tuple[RegistryServer, ImageSet]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}


def copied(*sides: Side, repo: str = "mirror/app0") -> None:
    for side in sides:
        assert side.ok, side
        assert side.tags(repo) == ["v1"], side


#: Flag spellings image-syncer copies with: (arguments, the Go code that reads them).
SPELLINGS = {
    "hex-binary": (["-p", "0x2", "-r", "0b1"], "pflag IntVarP: strconv.ParseInt(s, 0, 64)"),
    "octal-plus": (["--proc=010", "--retries=+1"], "pflag IntVarP: base 0 reads 010 as octal"),
    "attached": (["-p3", "-r1"], "pflag: a shorthand's value attached to it"),
    "empty-filters": (["--arch", "", "--os="], "RootCmd.RunE: RemoveEmptyItems drops them"),
    "force-words": (["--force=false", "--force=1"], "pflag BoolVar: ParseBool words, last wins"),
}
LEGACY = "auth:\n  SRC: {insecure: true}\n  DST: {insecure: true}\n"
LEGACY += "images:\n  SRC/lab/app0:v1: DST/mirror/app0\n"
#: The cases that are not spellings: their files and arguments.
OTHERS = {
    "config-wins": files(
        {
            "config.yaml": LEGACY,
            "auth.yaml": "SRC: {insecure: true}\n",
            "images.yaml": "SRC/lab/app0:v1: DST/mirror/other\n",
        },
        ["--auth", "auth.yaml", "--images", "images.yaml", "--config", "config.yaml"],
    ),
    "neither": files({"auth.yaml": "SRC: {insecure: true}\n"}, ["--auth", "auth.yaml"]),
    "version": split(RULES, auth=INSECURE, args=["--version"]),
}


@pytest.fixture(scope="module")
def runs(
    shared_source: Source, dest_pool: Servers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Side, Side]]:
    """The console script and image-syncer on every case, the cases side by side."""
    root, host = tmp_path_factory.mktemp("go-flags"), shared_source[0].host
    writers = {case: split(RULES, args=args) for case, (args, _) in SPELLINGS.items()}
    writers.update(OTHERS)
    return run_all(
        {
            case: partial(run_both_as_script, root / case, host, dest_pool.start, writer)
            for case, writer in writers.items()
        }
    )


@pytest.mark.parametrize("case", list(SPELLINGS))
def test_flag_spellings_image_syncer_copies_with(
    case: str, runs: dict[str, tuple[Side, Side]]
) -> None:
    oracle, ours = runs[case]
    copied(oracle, ours)
    assert "Traceback" not in ours.err, SPELLINGS[case][1]


def test_config_wins_over_auth_and_images(runs: dict[str, tuple[Side, Side]]) -> None:
    """config.go NewSyncConfig: with --config, --auth and --images are never read."""
    oracle, ours = runs["config-wins"]
    copied(oracle, ours)
    assert oracle.tags("mirror/other") == ours.tags("mirror/other") == []


def test_neither_config_nor_images_is_refused(runs: dict[str, tuple[Side, Side]]) -> None:
    """config.go NewSyncConfig: "neither config.json nor images.json is provided"."""
    oracle, ours = runs["neither"]
    assert oracle.code != 0 and "neither config.json nor images.json" in oracle.out, oracle
    assert ours.code == 2 and ours.err.startswith("image-syncer: error: no config"), ours


def test_version_is_no_flag_of_image_syncer(runs: dict[str, tuple[Side, Side]]) -> None:
    """cmd/image-syncer.go init: no --version (syncer's own is on `syncer`)."""
    oracle, ours = runs["version"]
    assert oracle.code != 0 and "unknown flag: --version" in oracle.out, oracle
    assert ours.code == 2 and "unrecognized arguments: --version" in ours.err, ours
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == []
