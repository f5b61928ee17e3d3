"""``syncer sync --referrers``: signatures, SBOMs and attestations travel with their images.

Real distribution 2.8 registries have no referrers API, so the Referrers Tag
Schema is exercised for real; :class:`ReferrersProxy` adds the API in front of
one, so the API path is exercised too. Each test checks that the destination
answers the same referrers as the source, byte-identical, for an image, an
index and a platform child of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.artifacts import ATTESTATION, SBOM, SIGNATURE, Artifact, build_artifact, push_referrer
from lab.artifacts import fallback_tag as tag_of
from lab.images import ImageSet, push_image_set
from syncer.engine.referrers import REFERRERS_DEPTH
from tests.support.embedded import RunSync, seed, sync_config
from tests.support.referrers import listed, manifest, same_referrers, sign, subjects
from tests.support.referrers_api import ReferrersProxy
from tests.support.registries import LabRegistry

pytestmark = pytest.mark.integration

_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture
def api_source(source: LabRegistry) -> Iterator[ReferrersProxy]:
    """The source registry, with the referrers API."""
    with ReferrersProxy(source.host) as proxy:
        yield proxy


@pytest.fixture
def api_dest(dest: LabRegistry) -> Iterator[ReferrersProxy]:
    """The destination registry, with the referrers API."""
    with ReferrersProxy(dest.host) as proxy:
        yield proxy


def _config(tmp_path: Path, src: str, dst: str, rule: object = None, tags: str = "oci") -> Path:
    value = rule if rule is not None else f"{dst}/mirror/multi"
    return sync_config(tmp_path / "c.yaml", {f"{src}/lab/multi:{tags}": value}, src, dst)


def test_tag_schema_referrers_of_image_index_and_child_reach_a_registry_without_the_api(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:oci", "lab/multi:index")
    arts = [a for s in subjects(image_set) for a in sign(source.url, s, "fallback")]

    run = run_sync(
        _config(tmp_path, source.host, dest.host, tags="oci,index"),
        "--referrers",
        "--output",
        "json",
    )

    assert run.code == 0, run.err
    assert run.report["images"]["failed"] == 0
    same_referrers(source.url, dest.url, arts, src_api=False, dst_api=False)


@pytest.mark.parametrize("dst_api", [False, True], ids=["to-tag-schema", "to-api"])
def test_api_referrers_reach_the_destination_listed_the_same_way(
    dst_api: bool,
    api_source: ReferrersProxy,
    dest: LabRegistry,
    api_dest: ReferrersProxy,
    image_set: ImageSet,
    run_sync: RunSync,
    tmp_path: Path,
) -> None:
    wanted = (image_set.get("lab/multi", "oci"), image_set.get("lab/multi", "index"))
    push_image_set(api_source.url, ImageSet(wanted))
    arts = [a for s in subjects(image_set) for a in sign(api_source.url, s, "api")]
    target = api_dest.url if dst_api else dest.url
    host = api_dest.host if dst_api else dest.host

    run = run_sync(
        _config(tmp_path, api_source.host, host, tags="oci,index"),
        "--referrers",
        "--output",
        "json",
    )

    assert run.code == 0, run.err
    same_referrers(api_source.url, target, arts, src_api=True, dst_api=dst_api)
    # A registry with the API keeps its own list: no fallback tag is written there.
    wrote_tag = manifest(dest.url, "mirror/multi", tag_of(arts[0].subject)) is not None
    assert wrote_tag is not dst_api


def test_cosign_tags_are_copied_as_tags(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:oci")
    subject = image_set.get("lab/multi", "oci").manifests[-1]
    sig = build_artifact(subject, SIGNATURE, b"cosign signature")
    push_referrer(source.url, "lab/multi", sig, "cosign")

    run = run_sync(_config(tmp_path, source.host, dest.host), "--referrers")

    assert run.code == 0, run.err
    assert manifest(dest.url, "mirror/multi", tag_of(subject.digest) + ".sig") == sig.manifest.body


def test_an_unchanged_image_gets_a_new_signature_without_being_pulled_again(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:oci")
    subject = image_set.get("lab/multi", "oci").manifests[-1]
    first = sign(source.url, subject, "fallback", SIGNATURE)
    config = _config(tmp_path, source.host, dest.host)
    assert run_sync(config, "--referrers").code == 0
    later = sign(source.url, subject, "fallback", SBOM)
    pulls = source.server.count_requests("GET", f"/manifests/{subject.digest}")
    by_tag = source.server.count_requests("GET", "/manifests/oci")

    run = run_sync(config, "--referrers", "--output", "json")

    assert run.code == 0, run.err
    assert {r["reason"] for r in run.results() if r["source"].endswith(":oci")} == {"unchanged"}
    assert source.server.count_requests("GET", f"/manifests/{subject.digest}") == pulls
    assert source.server.count_requests("GET", "/manifests/oci") == by_tag
    same_referrers(source.url, dest.url, first + later, src_api=False, dst_api=False)


def test_artifact_type_filters_by_flag_and_by_rule(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:oci")
    subject = image_set.get("lab/multi", "oci").manifests[-1]
    sig, sbom, att = sign(source.url, subject, "fallback")

    by_flag = run_sync(_config(tmp_path, source.host, dest.host), "--referrers-type", SBOM)
    rule = {"to": f"{dest.host}/other", "referrers": {"types": [ATTESTATION]}}
    by_rule = run_sync(_config(tmp_path, source.host, dest.host, rule))

    assert by_flag.code == 0 and by_rule.code == 0, by_flag.err + by_rule.err
    assert listed(dest.url, "mirror/multi", subject.digest, api=False) == {
        sbom.manifest.digest: SBOM
    }
    assert manifest(dest.url, "mirror/multi", sig.manifest.digest) is None
    assert listed(dest.url, "other", subject.digest, api=False) == {
        att.manifest.digest: ATTESTATION
    }


def test_without_referrers_nothing_but_the_images_is_copied(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:oci")
    subject = image_set.get("lab/multi", "oci").manifests[-1]
    (sig,) = sign(source.url, subject, "fallback", SIGNATURE)

    assert run_sync(_config(tmp_path, source.host, dest.host)).code == 0

    assert manifest(dest.url, "mirror/multi", sig.manifest.digest) is None
    assert listed(dest.url, "mirror/multi", subject.digest, api=False) == {}


def _requests(*registries: LabRegistry) -> int:
    methods = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
    return sum(r.server.count_requests(m) for r in registries for m in methods)


def test_a_no_op_resync_with_referrers_costs_one_request_per_signed_manifest(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:oci", "lab/multi:index")
    for subject in subjects(image_set):
        sign(source.url, subject, "fallback", SIGNATURE)
    config = _config(tmp_path, source.host, dest.host, tags="oci,index")
    assert run_sync(config, "--referrers").code == 0
    before = _requests(source), _requests(dest)
    assert run_sync(config).code == 0
    plain = _requests(source) - before[0], _requests(dest) - before[1]

    before = _requests(source), _requests(dest)
    run = run_sync(config, "--referrers", "--output", "json")
    extra_src = _requests(source) - before[0] - plain[0]
    extra_dst = _requests(dest) - before[1] - plain[1]

    assert run.code == 0, run.err
    assert run.report["images"] == {"total": 2, "done": 0, "skipped": 2, "failed": 0}
    # Source, per run: the API probe and one tag listing; per signed manifest:
    # its tag-schema index. Destination: only the index image's manifest, read
    # back for its children; the cache's synced marks answer for its referrers.
    assert (extra_src, extra_dst) == (2 + 3 * 1, 1), (extra_src, extra_dst)


def test_referrers_of_referrers_are_followed_down_to_the_depth_limit(
    source: LabRegistry, dest: LabRegistry, image_set: ImageSet, run_sync: RunSync, tmp_path: Path
) -> None:
    seed(source, image_set, "lab/multi:oci")
    chain: list[Artifact] = []
    subject = image_set.get("lab/multi", "oci").manifests[-1]
    for _ in range(REFERRERS_DEPTH + 1):  # a signature of a signature of ...
        (art,) = sign(source.url, subject, "fallback", SIGNATURE)
        chain.append(art)
        subject = art.manifest

    run = run_sync(_config(tmp_path, source.host, dest.host), "--referrers")

    assert run.code == 0, run.err
    kept, beyond = chain[:REFERRERS_DEPTH], chain[REFERRERS_DEPTH]
    same_referrers(source.url, dest.url, kept, src_api=False, dst_api=False)
    assert manifest(dest.url, "mirror/multi", beyond.manifest.digest) is None
