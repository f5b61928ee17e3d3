"""The harness itself: both tools copy a repository and agree on what landed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lab.images import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import run_both


def _split(rules: dict[str, Any]) -> Callable[[Path, str, str], list[str]]:
    def write(tmp: Path, src: str, dst: str) -> list[str]:
        auth = {src: {"insecure": True}, dst: {"insecure": True}}
        text = yaml.safe_dump(rules).replace("SRC", src).replace("DST", dst)
        (tmp / "auth.yaml").write_text(yaml.safe_dump(auth))
        (tmp / "images.yaml").write_text(text)
        return ["--auth", "auth.yaml", "--images", "images.yaml", "--log", "run.log"]

    return write


def test_both_tools_copy_a_whole_repository(
    compat_source: tuple[RegistryServer, ImageSet],
    make_dest: Callable[[], RegistryServer],
    tmp_path: Path,
) -> None:
    source, images = compat_source
    oracle, ours = run_both(
        tmp_path, source.host, make_dest, _split({"SRC/lab/app0": "DST/mirror/app0"})
    )
    assert oracle.ok, oracle
    assert ours.ok, ours
    want = sorted(i.tag for i in images.images if i.repo == "lab/app0")
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == want
    for tag in want:
        assert oracle.digest("mirror/app0", tag) == ours.digest("mirror/app0", tag) != ""
    assert oracle.finished_line() is not None and "0 tasks failed" in str(oracle.finished_line())
