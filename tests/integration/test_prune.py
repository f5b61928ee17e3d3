"""``sync --prune`` against a real docker-registry with deletion on (it deletes by digest only)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lab.images import ImageSet
from tests.support.embedded import RunSync, seed, write_config
from tests.support.mirror import by_dest, config_file, put_as, remove, rows, tags
from tests.support.registries import LabRegistry
from tests.support.verify import RegistryReader

pytestmark = pytest.mark.integration


def _setup(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, tmp_path: Path, run_sync: RunSync
) -> Path:
    """A synced mirror of lab/app0 (repo-wide), lab/app1 (/^v/) and lab/multi:list (tag list)."""
    seed(source, image_set, "lab/app0:v1", "lab/app0:v2", "lab/app1:v1", "lab/multi:list")
    s, d = source.host, dest.host
    images = {
        f"{s}/lab/app0": f"{d}/mirror/app0",
        f"{s}/lab/app1:/^v/": f"{d}/mirror/app1",
        f"{s}/lab/multi:list": f"{d}/mirror/multi",
    }
    config = config_file(tmp_path / "config.yaml", images, source, dest)
    assert run_sync("--config", config).code == 0
    return config


def test_prune_deletes_by_digest_and_keeps_a_tag_whose_digest_a_kept_tag_holds(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
    run_verify: RunSync,
) -> None:
    config = _setup(source, dest, image_set, tmp_path, run_sync)
    v1, v2 = image_set.get("lab/app0", "v1"), image_set.get("lab/app0", "v2")
    other = image_set.get("lab/app2", "v1")
    put_as(dest, other, "mirror/app0", "gone")  # its own digest: deleted by digest
    put_as(dest, v1, "mirror/app0", "alias")  # v1's digest: deleting it would delete v1
    put_as(dest, other, "mirror/app1", "v9")  # in /^v/'s scope, not at the source
    put_as(dest, v2, "mirror/app1", "dev")  # outside the regex: never touched
    put_as(dest, other, "mirror/multi", "stale")  # a tag-list rule never prunes
    shown = run_verify("--config", config, "--output", "json")
    extra = by_dest(rows(shown, "extra"))
    assert set(extra) == {"mirror/app0:gone", "mirror/app0:alias", "mirror/app1:v9"}
    assert extra["mirror/app0:gone"]["prune"] == "delete"
    assert "also tagged v1" in extra["mirror/app0:alias"]["reason"]

    run = run_sync("--config", config, "--prune", "--output", "json")
    assert run.code == 0, run.err
    pruned = by_dest(run.report["prune"]["tags"])
    assert pruned["mirror/app0:gone"]["prune"] == "deleted"
    assert pruned["mirror/app1:v9"]["prune"] == "deleted"
    assert pruned["mirror/app0:alias"]["prune"] == "kept"
    assert "also tagged v1" in pruned["mirror/app0:alias"]["reason"]
    assert tags(dest, "mirror/app0") == ["alias", "v1", "v2"]
    assert tags(dest, "mirror/app1") == ["dev", "v1"]
    assert tags(dest, "mirror/multi") == ["list", "stale"]
    # distribution refused the tag, so both deletions went by digest.
    assert dest.server.count_requests("DELETE", f"/manifests/{other.digest}") == 2


def test_dry_run_shows_what_would_be_pruned_and_deletes_nothing(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
) -> None:
    config = _setup(source, dest, image_set, tmp_path, run_sync)
    put_as(dest, image_set.get("lab/app2", "v1"), "mirror/app0", "gone")
    run = run_sync("--config", config, "--prune", "--dry-run")
    assert run.code == 0
    assert f"would prune {dest.host}/mirror/app0:gone" in run.out
    assert tags(dest, "mirror/app0") == ["gone", "v1", "v2"]
    assert dest.server.count_requests("DELETE") == 0


def test_prune_max_refuses_the_whole_run(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
) -> None:
    config = _setup(source, dest, image_set, tmp_path, run_sync)
    other = image_set.get("lab/app2", "v1")
    for tag in ("x1", "x2", "x3"):
        put_as(dest, other, "mirror/app0", tag)
    run = run_sync("--config", config, "--prune", "--prune-max", "2", "--output", "json")
    assert run.code == 1
    assert "3 tags would be deleted, more than --prune-max 2" in run.report["prune"]["refused"]
    assert tags(dest, "mirror/app0") == ["v1", "v2", "x1", "x2", "x3"]
    assert dest.server.count_requests("DELETE") == 0
    again = run_sync("--config", config, "--prune", "--prune-max", "3")
    assert again.code == 0
    assert tags(dest, "mirror/app0") == ["v1", "v2"]


def test_a_failed_or_empty_listing_deletes_nothing(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _setup(source, dest, image_set, tmp_path, run_sync)
    other = image_set.get("lab/app2", "v1")
    put_as(dest, other, "mirror/app0", "gone")
    put_as(dest, other, "mirror/app1", "v9")
    # A listing cut short (here by the tag cap, after the first tag) is a failed listing.
    monkeypatch.setenv("SYNCER_MAX_TAGS", "1")
    cut = run_sync("--config", config, "--prune", "--output", "json")
    assert cut.code == 1
    assert tags(dest, "mirror/app0") == ["gone", "v1", "v2"]
    monkeypatch.delenv("SYNCER_MAX_TAGS")
    # The source's only tag in /^v/ deleted: an empty listing keeps every tag.
    remove(source, "lab/app1", "v1")
    empty = run_sync("--config", config, "--prune", "--output", "json")
    pruned = by_dest(empty.report["prune"]["tags"])
    assert pruned["mirror/app1:v9"]["prune"] == "kept"
    assert "listed no tag" in pruned["mirror/app1:v9"]["reason"]
    assert "v9" in tags(dest, "mirror/app1")
    assert pruned["mirror/app0:gone"]["prune"] == "deleted"


def test_a_bearer_registry_is_asked_for_the_delete_scope(
    source: LabRegistry,
    token_registry: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
    reader: Callable[[LabRegistry], RegistryReader],
) -> None:
    seed(source, image_set, "lab/app0:v1")
    dest = token_registry
    put_as(dest, image_set.get("lab/app2", "v1"), "mirror/app0", "gone")
    auth = {
        source.host: {"insecure": True},
        dest.host: {"username": dest.username, "password": dest.password, "insecure": True},
    }
    config = write_config(
        tmp_path / "c.yaml",
        {"auth": auth, "images": {f"{source.host}/lab/app0": f"{dest.host}/mirror/app0"}},
    )
    run = run_sync("--config", config, "--prune", "--output", "json")
    assert run.code == 0, run.err
    assert reader(dest).tags("mirror/app0") == ["v1"]
    assert dest.issuer is not None
    scopes = {s for r in dest.issuer.requests for s in r.scopes}
    assert "repository:mirror/app0:delete" in scopes
