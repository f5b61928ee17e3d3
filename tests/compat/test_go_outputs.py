"""What image-syncer v1.5.5 writes and how it exits, beside syncer.

From ``pkg/client/client.go`` ``Run``: the success list holds the images whose
manifest task ran, and an ``--output-success-images`` file that cannot be
opened makes ``Run`` return an error after the copy.
"""

from __future__ import annotations

from functools import partial

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import Side, run_all, run_both_as_script
from tests.support.compat_cases import split
from tests.support.compat_rules import Servers

Source = tuple[RegistryServer, ImageSet]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}


@pytest.fixture(scope="module")
def runs(
    shared_source: Source, dest_pool: Servers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Side, Side]]:
    """The console script and image-syncer on both cases, side by side."""
    root, host = tmp_path_factory.mktemp("go-outputs"), shared_source[0].host
    writers = {
        "unwritable": split(RULES, args=["--output-success-images", "no/such/dir/ok.yaml"]),
        "filtered": split(RULES, args=["--arch", "arm64", "--output-success-images", "ok.yaml"]),
    }
    return run_all(
        {
            case: partial(run_both_as_script, root / case, host, dest_pool.start, writer)
            for case, writer in writers.items()
        }
    )


def test_an_unwritable_success_file_fails_after_the_copy(
    runs: dict[str, tuple[Side, Side]],
) -> None:
    """client.go Run: os.OpenFile fails, Run returns "open file … error": exit non-zero."""
    oracle, ours = runs["unwritable"]
    assert oracle.code != 0 and "open file no/such/dir/ok.yaml error" in oracle.out, oracle
    assert ours.code == 1 and "cannot write no/such/dir/ok.yaml" in ours.err, ours
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == ["v1"]


def test_an_image_the_platform_filter_skips_is_no_success_image(
    runs: dict[str, tuple[Side, Side]],
) -> None:
    """task/url.go generateSyncTasks skips it with a message and no manifest task, so
    client.go Run records nothing: the file is `{}`, and the run succeeds."""
    oracle, ours = runs["filtered"]
    assert oracle.ok and ours.ok, (oracle, ours)
    assert oracle.file("ok.yaml") == ours.file("ok.yaml") == "{}\n"
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == []
