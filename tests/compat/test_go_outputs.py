"""What image-syncer v1.5.5 writes and how it exits, beside syncer.

From ``pkg/client/client.go`` ``Run``: the success list holds the images whose
manifest task ran, and an ``--output-success-images`` file that cannot be
opened makes ``Run`` return an error after the copy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import run_both_as_script
from tests.support.compat_cases import split

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}


def test_an_unwritable_success_file_fails_after_the_copy(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """client.go Run: os.OpenFile fails, Run returns "open file … error": exit non-zero."""
    writer = split(RULES, args=["--output-success-images", "no/such/dir/ok.yaml"])
    oracle, ours = run_both_as_script(tmp_path, shared_source[0].host, make_dest, writer)
    assert oracle.code != 0 and "open file no/such/dir/ok.yaml error" in oracle.out, oracle
    assert ours.code == 1 and "cannot write no/such/dir/ok.yaml" in ours.err, ours
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == ["v1"]


def test_an_image_the_platform_filter_skips_is_no_success_image(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """task/url.go generateSyncTasks skips it with a message and no manifest task, so
    client.go Run records nothing: the file is `{}`, and the run succeeds."""
    writer = split(RULES, args=["--arch", "arm64", "--output-success-images", "ok.yaml"])
    oracle, ours = run_both_as_script(tmp_path, shared_source[0].host, make_dest, writer)
    assert oracle.ok and ours.ok, (oracle, ours)
    assert oracle.file("ok.yaml") == ours.file("ok.yaml") == "{}\n"
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == []
