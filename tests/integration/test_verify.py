"""``syncer verify`` against real registries: each status, the JSON schema, the exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.artifacts import SBOM, SIGNATURE
from lab.images import ImageSet
from tests.support.embedded import RunSync, seed
from tests.support.mirror import by_dest, config_file, put_as, remove, rows
from tests.support.referrers import sign
from tests.support.registries import LabRegistry

pytestmark = pytest.mark.integration


def _mirror(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, tmp_path: Path, run_sync: RunSync
) -> Path:
    """Seed lab/app0 (v1, v2) and lab/multi:list, mirror them, and return the config."""
    seed(source, image_set, "lab/app0:v1", "lab/app0:v2", "lab/multi:list")
    s, d = source.host, dest.host
    images = {
        f"{s}/lab/app0": f"{d}/mirror/app0",
        f"{s}/lab/multi:list": f"{d}/mirror/multi",
    }
    config = config_file(tmp_path / "config.yaml", images, source, dest)
    assert run_sync("--config", config).code == 0
    return config


def test_a_complete_mirror_is_all_same_and_exits_0(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
    run_verify: RunSync,
) -> None:
    config = _mirror(source, dest, image_set, tmp_path, run_sync)
    before = dest.server.count_requests("GET", "/manifests/")
    run = run_verify("--config", config, "--output", "json")
    assert run.code == 0, run.err
    assert run.report["schema"] == "syncer.verify/v1"
    assert run.report["totals"] == {
        "same": 3,
        "missing": 0,
        "different": 0,
        "extra": 0,
        "unreadable": 0,
    }
    found = by_dest(rows(run))
    assert found["mirror/app0:v1"]["dest_digest"] == image_set.get("lab/app0", "v1").digest
    # HEADs only: not one manifest body was read at the destination.
    assert dest.server.count_requests("GET", "/manifests/") == before
    text = run_verify("--config", config)
    assert text.code == 0
    assert "verify: 3 tags: 3 same, 0 missing, 0 different, 0 extra, 0 unreadable" in text.out


def test_each_kind_of_drift_is_reported_with_both_digests(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
    run_verify: RunSync,
) -> None:
    config = _mirror(source, dest, image_set, tmp_path, run_sync)
    v1 = image_set.get("lab/app0", "v1")
    v2 = image_set.get("lab/app0", "v2")
    put_as(dest, v1, "mirror/app0", "v2")  # different
    put_as(dest, v2, "mirror/app0", "old")  # extra: the source never had it
    put_as(source, v2, "lab/app0", "v3")  # missing at the destination
    remove(dest, "mirror/multi", "list")  # missing too
    run = run_verify("--config", config, "--output", "json")
    assert run.code == 1
    found = by_dest(rows(run))
    assert found["mirror/app0:v2"]["status"] == "different"
    assert found["mirror/app0:v2"]["source_digest"] == v2.digest
    assert found["mirror/app0:v2"]["dest_digest"] == v1.digest
    assert found["mirror/app0:old"]["status"] == "extra"
    assert found["mirror/app0:old"]["dest_digest"] == v2.digest
    assert found["mirror/app0:v3"]["status"] == "missing"
    assert found["mirror/multi:list"]["status"] == "missing"
    assert found["mirror/app0:v1"]["status"] == "same"
    assert run.report["totals"]["extra"] == 1
    text = run_verify("--config", config)
    assert text.code == 1
    assert "different" in text.out and v1.digest in text.out and "the mirror drifted" in text.out


def test_a_tag_the_source_lacks_is_unreadable_and_a_bad_config_exits_2(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_verify: RunSync,
) -> None:
    seed(source, image_set, "lab/app0:v1")
    s, d = source.host, dest.host
    config = config_file(
        tmp_path / "c.yaml",
        {f"{s}/lab/app0:v1,nope": f"{d}/mirror/app0", f"{s}/lab/none": f"{d}/mirror/none"},
        source,
        dest,
    )
    run = run_verify("--config", config, "--output", "json")
    assert run.code == 1
    found = by_dest(rows(run))
    assert found["mirror/app0:nope"]["status"] == "unreadable"
    assert "no such manifest" in found["mirror/app0:nope"]["reason"]
    assert found["mirror/app0:v1"]["status"] == "missing"
    # A repo-wide rule whose source cannot be listed: one unreadable row for the rule.
    assert found["mirror/none"]["status"] == "unreadable"
    assert found["mirror/none"]["source"] == f"{s}/lab/none"
    bad = config_file(tmp_path / "bad.yaml", {f"{s}/lab/app0:/(/": f"{d}/x"}, source, dest)
    broken = run_verify("--config", bad)
    assert broken.code == 2 and broken.err.count("\n") == 1


def test_platform_filters_compare_the_filtered_index(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
    run_verify: RunSync,
) -> None:
    seed(source, image_set, "lab/multi:list")
    s, d = source.host, dest.host
    config = config_file(
        tmp_path / "c.yaml", {f"{s}/lab/multi:list": f"{d}/mirror/multi"}, source, dest
    )
    assert run_sync("--config", config, "--arch", "amd64").code == 0
    filtered = run_verify("--config", config, "--arch", "amd64", "--output", "json")
    assert filtered.code == 0, filtered.out
    # Without the filter the destination holds another digest than the source's index.
    whole = run_verify("--config", config, "--output", "json")
    assert whole.code == 1
    assert rows(whole)[0]["status"] == "different"


def test_referrers_the_destination_lacks_are_missing_rows(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    tmp_path: Path,
    run_sync: RunSync,
    run_verify: RunSync,
) -> None:
    seed(source, image_set, "lab/multi:oci")
    subject = image_set.get("lab/multi", "oci").manifests[-1]
    sign(source.url, subject, "fallback", SIGNATURE)
    s, d = source.host, dest.host
    config = config_file(
        tmp_path / "c.yaml", {f"{s}/lab/multi:oci": f"{d}/mirror/multi"}, source, dest
    )
    assert run_sync("--config", config, "--referrers").code == 0
    assert run_verify("--config", config, "--referrers").code == 0
    [sbom] = sign(source.url, subject, "fallback", SBOM)  # signed again after the copy
    run = run_verify("--config", config, "--referrers", "--output", "json")
    assert run.code == 1
    [missing] = rows(run, "missing")
    assert missing["source"] == f"{s}/lab/multi@{sbom.manifest.digest}"
    assert missing["dest"] == f"{d}/mirror/multi@{sbom.manifest.digest}"
    assert run_verify("--config", config).code == 0  # without --referrers only the image counts
