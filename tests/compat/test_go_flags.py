"""Flags as image-syncer v1.5.5 reads them, beside syncer's console script.

From ``cmd/image-syncer.go`` (``init``: the flag set, read by cobra's pflag;
``RootCmd.RunE``: ``utils.RemoveEmptyItems`` on ``--os``/``--arch``; ``Execute``)
and ``pkg/client/config.go`` ``NewSyncConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import Side, run_both_as_script
from tests.support.compat_cases import INSECURE, files, split

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}


def copied(*sides: Side, repo: str = "mirror/app0") -> None:
    for side in sides:
        assert side.ok, side
        assert side.tags(repo) == ["v1"], side


@pytest.mark.parametrize(
    ("args", "go"),
    [
        (["-p", "0x2", "-r", "0b1"], "pflag IntVarP: strconv.ParseInt(s, 0, 64), hex and binary"),
        (["--proc=010", "--retries=+1"], "pflag IntVarP: base 0 reads 010 as octal 8, takes +"),
        (["-p3", "-r1"], "pflag: a shorthand's value attached to it"),
        (["--arch", "", "--os="], "RootCmd.RunE: RemoveEmptyItems drops empty --os/--arch"),
        (["--force=false", "--force=1"], "pflag BoolVar: strconv.ParseBool words, the last wins"),
    ],
    ids=["hex-binary", "octal-plus", "attached", "empty-filters", "force-words"],
)
def test_flag_spellings_image_syncer_copies_with(
    args: list[str], go: str, shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    writer = split(RULES, args=args)
    oracle, ours = run_both_as_script(tmp_path, shared_source[0].host, make_dest, writer)
    copied(oracle, ours)
    assert "Traceback" not in ours.err, go


def test_config_wins_over_auth_and_images(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """config.go NewSyncConfig: with --config, --auth and --images are never read."""
    legacy = "auth:\n  SRC: {insecure: true}\n  DST: {insecure: true}\n"
    legacy += "images:\n  SRC/lab/app0:v1: DST/mirror/app0\n"
    texts = {
        "config.yaml": legacy,
        "auth.yaml": "SRC: {insecure: true}\n",
        "images.yaml": "SRC/lab/app0:v1: DST/mirror/other\n",
    }
    args = ["--auth", "auth.yaml", "--images", "images.yaml", "--config", "config.yaml"]
    oracle, ours = run_both_as_script(
        tmp_path, shared_source[0].host, make_dest, files(texts, args)
    )
    copied(oracle, ours)
    assert oracle.tags("mirror/other") == ours.tags("mirror/other") == []


def test_neither_config_nor_images_is_refused(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """config.go NewSyncConfig: "neither config.json nor images.json is provided"."""
    writer = files({"auth.yaml": "SRC: {insecure: true}\n"}, ["--auth", "auth.yaml"])
    oracle, ours = run_both_as_script(tmp_path, shared_source[0].host, make_dest, writer)
    assert oracle.code != 0 and "neither config.json nor images.json" in oracle.out, oracle
    assert ours.code == 2 and ours.err.startswith("image-syncer: error: no config"), ours


def test_version_is_no_flag_of_image_syncer(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """cmd/image-syncer.go init: no --version (syncer's own is on `syncer`)."""
    oracle, ours = run_both_as_script(
        tmp_path, shared_source[0].host, make_dest, split(RULES, auth=INSECURE, args=["--version"])
    )
    assert oracle.code != 0 and "unknown flag: --version" in oracle.out, oracle
    assert ours.code == 2 and "unrecognized arguments: --version" in ours.err, ours
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == []
