"""Row 1 and 9: an image-syncer command line runs syncer unchanged, and says so in --help."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import (
    IMAGE_SYNCER_SCRIPT,
    SYNCER_BARE,
    Side,
    run_both,
    run_both_as_script,
)
from tests.support.compat_cases import single, split

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]
RULES = {"SRC/lab/app0:v1,v2": "DST/mirror/app0", "SRC/lab/multi:list": "DST/mirror/multi"}


def assert_same_copy(oracle: Side, ours: Side) -> None:
    """Both succeeded and the destinations hold the same tags with the same digests."""
    assert oracle.ok, oracle
    assert ours.ok, ours
    for repo, tags in (("mirror/app0", ["v1", "v2"]), ("mirror/multi", ["list"])):
        assert oracle.tags(repo) == ours.tags(repo) == tags
        for tag in tags:
            assert ours.digest(repo, tag) != ""
    # image-syncer rewrites manifest lists; plain images land byte for byte in both.
    assert oracle.digest("mirror/app0", "v1") == ours.digest("mirror/app0", "v1")


def assert_nothing_written(*sides: Side) -> None:
    for side in sides:
        assert side.tags("mirror/app0") == [], side
        assert side.tags("mirror/multi") == [], side


def test_bare_syncer_runs_an_image_syncer_command_line(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """`syncer --auth … --images …` (no subcommand) just syncs, like image-syncer."""
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_dest, split(RULES), syncer_prefix=SYNCER_BARE
    )
    assert_same_copy(oracle, ours)


def test_every_flag_in_pflag_spellings(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """The console script takes short flags, `--flag=value` and `--force=true`, as pflag does."""
    args = ["-p", "2", "-r=1", "--proc=3", "--force=true", "--os", "linux", "--arch=amd64"]
    args += ["--log", "run.log", "--output-success-images=ok.json", "--output-images-format=json"]
    oracle, ours = run_both_as_script(
        tmp_path, shared_source[0].host, make_dest, split(RULES, args=args)
    )
    assert_same_copy(oracle, ours)
    # image-syncer keeps stdout empty on success; so does the console script.
    assert oracle.out == ours.out == ""
    assert oracle.file("ok.json") is not None and ours.file("ok.json") is not None
    assert "0 tasks failed" in str(oracle.finished_line())
    assert "0 tasks failed" in str(ours.finished_line())


@pytest.mark.parametrize(
    "prefix", [SYNCER_BARE, IMAGE_SYNCER_SCRIPT], ids=["syncer-bare", "image-syncer-script"]
)
def test_unknown_flag_fails_before_any_copy(
    prefix: tuple[str, ...], shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """Both refuse an unknown flag with a non-zero exit; syncer's is 2 (usage)."""
    oracle, ours = run_both(
        tmp_path,
        shared_source[0].host,
        make_dest,
        split(RULES, args=["--bogus"]),
        syncer_prefix=prefix,
    )
    assert oracle.code != 0 and "unknown flag: --bogus" in oracle.out + oracle.err
    assert ours.code == 2, ours
    assert "--bogus" in ours.err
    assert_nothing_written(oracle, ours)


def test_missing_images_file_fails_before_any_copy(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """A file that cannot be read: both fail at once, and name it."""

    def write(tmp: Path, src: str, dst: str) -> list[str]:
        return split(RULES)(tmp, src, dst)[:3] + ["absent.yaml"]

    oracle, ours = run_both(tmp_path, shared_source[0].host, make_dest, write)
    assert oracle.code != 0 and "absent.yaml" in oracle.out
    assert ours.code == 2 and "absent.yaml" in ours.err, ours
    assert_nothing_written(oracle, ours)


def test_stray_positional_word_is_ignored_with_a_warning(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """cmd/image-syncer.go: RootCmd ignores words that are not flags, and syncs;
    syncer does the same work and names the word it ignored."""
    oracle, ours = run_both_as_script(
        tmp_path, shared_source[0].host, make_dest, split(RULES, args=["--arch", "amd64", "arm64"])
    )
    assert_same_copy(oracle, ours)
    assert "ignoring 'arm64': not a flag" in ours.err, ours


def test_legacy_config_file_from_image_syncer_examples(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """examples/config.json with the hosts swapped: same tags land."""
    config = {
        "auth": {
            "SRC": {"username": "xxx", "password": "xxxxxxxxx", "insecure": True},
            "SRC/coreos": {"username": "abc", "password": "xxxxxxxxx", "insecure": True},
            "DST": {"insecure": True},
        },
        "images": {
            "SRC/coreos/kube-rbac-proxy": "DST/ruohe/kube-rbac-proxy",
            "SRC/coreos/kube-rbac-proxy:v1.0": "DST/ruohe/kube-rbac-proxy",
            "SRC/coreos/kube-rbac-proxy:v1.0,v2.0": "DST/ruohe/kube-rbac-proxy",
        },
    }
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_dest, single(config, "config.json")
    )
    assert oracle.ok, oracle
    assert ours.ok, ours
    want = ["aaa", "v1.0", "v1.1", "v2.0"]
    assert oracle.tags("ruohe/kube-rbac-proxy") == ours.tags("ruohe/kube-rbac-proxy") == want
    for tag in want:
        got = oracle.digest("ruohe/kube-rbac-proxy", tag)
        assert got == ours.digest("ruohe/kube-rbac-proxy", tag) != ""


def test_split_files_from_image_syncer_examples(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """examples/images.yaml + auth.yaml: every rule form lands the same tags."""
    source, images = shared_source
    digest = images.get("coreos/kube-rbac-proxy", "v2.0").digest
    rules = {
        "SRC/coreos/kube-rbac-proxy": "DST/ruohe/kube-rbac-proxy",
        "SRC/coreos/kube-rbac-proxy:v1.0": "DST/ruohe/kube-rbac-proxy",
        "SRC/coreos/kube-rbac-proxy:v1.0,v2.0": "DST/ruohe/kube-rbac-proxy",
        f"SRC/coreos/kube-rbac-proxy@{digest}": "DST/ruohe/kube-rbac-proxy",
        "SRC/coreos/kube-rbac-proxy:v1.1": [
            "DST/ruohe/kube-rbac-proxy1",
            "DST/ruohe/kube-rbac-proxy2",
        ],
        "SRC/coreos/kube-rbac-proxy:/a+/": "DST/ruohe/kube-rbac-proxy",
    }
    auth = {
        "SRC": {"username": "xxx", "password": "xxxxxxxxx", "insecure": True},
        "DST": {"insecure": True},
        "SRC/coreos": {"username": "abc", "password": "xxxxxxxxx", "insecure": True},
    }
    writer = split(rules, auth=auth)
    oracle, ours = run_both(tmp_path, source.host, make_dest, writer)
    assert oracle.ok, oracle
    assert ours.ok, ours
    for repo, want in (
        ("ruohe/kube-rbac-proxy", ["aaa", "v1.0", "v1.1", "v2.0"]),
        ("ruohe/kube-rbac-proxy1", ["v1.1"]),
        ("ruohe/kube-rbac-proxy2", ["v1.1"]),
    ):
        assert oracle.tags(repo) == ours.tags(repo) == want
    assert ours.digest("ruohe/kube-rbac-proxy", digest) == digest
    assert oracle.digest("ruohe/kube-rbac-proxy", digest) == digest


def _flags(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-z])\b", help_text))


def test_console_script_has_exactly_image_syncers_flags(image_syncer: Path) -> None:
    """`image-syncer --help` of both: the same flag set, both exit 0."""
    theirs = subprocess.run(
        [str(image_syncer), "--help"], capture_output=True, text=True, timeout=30
    )
    ours = subprocess.run(
        [*IMAGE_SYNCER_SCRIPT, "--help"], capture_output=True, text=True, timeout=30
    )
    assert theirs.returncode == ours.returncode == 0, ours.stderr
    flag_block = theirs.stdout.split("Flags:", 1)[1]
    assert _flags(flag_block) == _flags(ours.stdout) != set()
    # --force is a plain switch in both (argparse once showed `--force [FORCE]`).
    assert re.search(r"^\s+--force\s{2,}force update", flag_block, re.M), flag_block
    assert "[--force]" in ours.stdout and "FORCE" not in ours.stdout
    defaults = re.findall(r"(--\S+) \w+ .*\(default \"?(\w+)\"?\)", flag_block)
    assert defaults, flag_block
    for flag, value in defaults:
        assert re.search(rf"{flag}.*\n?.*default {value}\)", ours.stdout), (flag, value)
