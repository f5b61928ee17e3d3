"""Unit tests for syncer.engine.copypath: the copy path both executors call, and rule helpers.

The embedded executor's cache (:class:`MemoryBlobCache`) is used here; the
fleet's Redis cache goes through the same functions in
``tests/fleet/test_copy_path.py``.
"""

from __future__ import annotations

import json

import pytest

from syncer import defaults
from syncer.config.rules import parse_rule
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.copypath import (
    copy_and_record,
    is_blob_unknown,
    push_manifests,
    push_with_recheck,
    resolve,
)
from syncer.engine.expansion import explicit_jobs, rule_failures, unique_jobs
from syncer.engine.jobs import TagJob
from syncer.errors import (
    CancelledError,
    ConfigError,
    DigestMismatchError,
    HTTPError,
    ResponseTooLargeError,
    ServerError,
    UnsupportedError,
)
from syncer.oci import mediatypes
from syncer.oci.reference import ImageRef, Repository
from tests.support.copypath import (
    DST,
    GONE,
    MANIFEST,
    OTHER,
    PRESENT,
    SRC,
    FakeCopier,
    FakePool,
    RecordingCache,
    blob_url,
    digest_of,
    image,
    layer,
    manifest_url,
    stale_cache_registry,
)
from tests.support.fakes import FakeTransport, Reply, json_reply, open_registry


# -- copy_and_record -----------------------------------------------------------------
def test_copy_mounts_from_given_then_cached_repositories_and_records() -> None:
    cache = MemoryBlobCache()
    desc = layer(PRESENT)
    cache.add(DST.registry, "cached/repo", desc.digest)
    copier = FakeCopier("mounted")

    outcome = copy_and_record(copier, cache, SRC, DST, desc, also=[OTHER])

    assert outcome == "mounted"
    assert copier.mounts == [[OTHER, Repository(DST.registry, "cached/repo")]]
    assert cache.has(DST.registry, DST.path, desc.digest)


def test_before_record_runs_after_the_copy_and_before_the_cache_entry() -> None:
    cache = RecordingCache(MemoryBlobCache())
    desc = layer(PRESENT)
    seen: list[str] = []

    def settle(outcome: str) -> None:
        seen.append(outcome)
        cache.calls.append(("settle", outcome))

    copy_and_record(FakeCopier("copied"), cache, SRC, DST, desc, before_record=settle)

    assert seen == ["copied"]
    assert cache.calls == [("repos_with", desc.digest), ("settle", "copied"), ("add", desc.digest)]


def test_a_failed_copy_records_nothing() -> None:
    cache = MemoryBlobCache()
    desc = layer(PRESENT)
    settled: list[str] = []
    with pytest.raises(ServerError):
        copy_and_record(
            FakeCopier(error=ServerError("boom", status=503)),
            cache,
            SRC,
            DST,
            desc,
            before_record=settled.append,
        )
    assert not cache.has(DST.registry, DST.path, desc.digest)
    assert settled == []


# -- push_with_recheck ---------------------------------------------------------------
def test_a_blob_the_cache_promised_is_rechecked_copied_and_the_push_repeated() -> None:
    fake = stale_cache_registry()
    res = image()
    cache = RecordingCache(MemoryBlobCache())
    for desc in res.blobs.values():
        cache.inner.add(DST.registry, DST.path, desc.digest)
    moved: list[int] = []

    push_with_recheck(res, FakePool(fake), cache, on_bytes=moved.append)

    assert len(fake.requests_to("PUT", manifest_url())) == 2
    assert len(fake.requests_to("GET", blob_url(SRC, GONE))) == 1  # only the lost one
    assert not fake.requests_to("GET", blob_url(SRC, PRESENT))
    assert sum(moved) == len(GONE)
    for data in (PRESENT, GONE):
        digest = digest_of(data)
        assert cache.calls.index(("discard", digest)) < cache.calls.index(("add", digest))
        assert cache.inner.has(DST.registry, DST.path, digest)


def test_a_push_that_succeeds_touches_no_blob() -> None:
    fake = stale_cache_registry(first_push=json_reply({}, 201))
    cache = RecordingCache(MemoryBlobCache())

    push_with_recheck(image(), FakePool(fake), cache)

    assert len(fake.requests_to("PUT", manifest_url())) == 1
    assert not fake.requests_to("HEAD", blob_url(DST, PRESENT))
    assert cache.calls == []


def test_another_push_error_is_raised_without_a_recheck() -> None:
    denied = json_reply({"errors": [{"code": "DENIED", "message": "no"}]}, 403)
    fake = stale_cache_registry(first_push=denied)
    cache = RecordingCache(MemoryBlobCache())

    with pytest.raises(HTTPError):
        push_with_recheck(image(), FakePool(fake), cache)

    assert not fake.requests_to("HEAD", blob_url(DST, PRESENT))
    assert cache.calls == []


def test_stop_cuts_the_recheck_short() -> None:
    fake = stale_cache_registry()
    with pytest.raises(CancelledError):
        push_with_recheck(image(), FakePool(fake), MemoryBlobCache(), stop=lambda: True)
    assert len(fake.requests_to("PUT", manifest_url())) == 1


# -- rules ---------------------------------------------------------------------------
def test_a_rule_that_cannot_be_expanded_fails_each_destination() -> None:
    rule = parse_rule("quay.io/team/app", ["x.io/m/app", "y.io/n/app"], environ={})

    failures = rule_failures(rule, "list tags: 403 denied")

    assert [r.dest for r in failures] == [str(d) for d in rule.destinations]
    assert len(failures) == 2
    for result in failures:
        assert (result.source, result.rule, result.status) == (rule.key, rule.key, "failed")
        assert result.reason == "list tags: 403 denied"


def test_explicit_tags_pair_with_each_destination_and_unique_keeps_the_first() -> None:
    rule = parse_rule("quay.io/team/app:v1,v2", ["x.io/m/app"], environ={})
    jobs = explicit_jobs(rule)
    assert [str(j.dest) for j in jobs] == ["x.io/m/app:v1", "x.io/m/app:v2"]
    assert unique_jobs([*jobs, *jobs]) == jobs


def test_is_blob_unknown_reads_the_error_codes() -> None:
    unknown = HTTPError("x", status=400, errors=[{"code": "MANIFEST_BLOB_UNKNOWN"}])
    assert is_blob_unknown(unknown)
    assert not is_blob_unknown(HTTPError("x", status=400, errors=[{"code": "MANIFEST_INVALID"}]))


# -- resolve -------------------------------------------------------------------------
def _manifest() -> bytes:
    config, lay = layer(b"{}"), layer(PRESENT)
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": config.digest, "size": 2},
            "layers": [{"mediaType": lay.media_type, "digest": lay.digest, "size": lay.size}],
        }
    ).encode()


def _registries(*, dest_holds_it: bool) -> tuple[FakeTransport, str]:
    body = _manifest()
    digest = digest_of(body)
    fake = FakeTransport()
    open_registry(fake, "src.example")
    open_registry(fake, "dst.example")
    head = {"Docker-Content-Digest": digest, "Content-Type": mediatypes.OCI_MANIFEST}
    fake.on("HEAD", f"https://src.example/v2/{SRC.path}/manifests/v1", Reply(200, head))
    fake.on("GET", f"https://src.example/v2/{SRC.path}/manifests/{digest}", Reply(200, head, body))
    dest = Reply(200, {"Docker-Content-Digest": digest}) if dest_holds_it else Reply(404)
    fake.on("HEAD", manifest_url(), dest)
    return fake, digest


def test_resolve_skips_an_image_the_destination_already_holds() -> None:
    fake, digest = _registries(dest_holds_it=True)

    res = resolve(image().job, FakePool(fake))

    assert (res.skip, res.source_digest, res.pushes) == ("unchanged", digest, [])
    assert not fake.requests_to("GET", f"https://src.example/v2/{SRC.path}/manifests/{digest}")


def test_resolve_reads_what_to_push_and_which_blobs() -> None:
    fake, digest = _registries(dest_holds_it=False)

    res = resolve(image().job, FakePool(fake))

    assert (res.skip, res.note, res.source_digest) == ("", "", digest)
    assert [(ref, raw.digest) for ref, raw in res.pushes] == [("v1", digest)]
    assert set(res.blobs) == {digest_of(b"{}"), digest_of(PRESENT)}
    assert res.total_bytes == 2 + len(PRESENT)


def _to_digest(digest: str) -> TagJob:
    """image-syncer's ``src:v1 -> dst@sha256:…`` (task/rule.go compares two digests only)."""
    return TagJob(ImageRef(SRC, "v1"), ImageRef(DST, None, digest), "src.example/team/app:v1")


def test_resolve_pushes_a_tag_to_the_destination_digest_it_has() -> None:
    fake, digest = _registries(dest_holds_it=False)
    fake.on("HEAD", f"https://dst.example/v2/{DST.path}/manifests/{digest}", Reply(404))

    res = resolve(_to_digest(digest), FakePool(fake))

    assert res.skip == "" and [(ref, raw.digest) for ref, raw in res.pushes] == [(digest, digest)]


def test_resolve_refuses_a_tag_whose_digest_is_not_the_destinations() -> None:
    fake, digest = _registries(dest_holds_it=False)
    other = "sha256:" + "b" * 64
    fake.on("HEAD", f"https://dst.example/v2/{DST.path}/manifests/{other}", Reply(404))

    with pytest.raises(ConfigError, match=rf"@{other}: .*:v1 is {digest}, not the destination"):
        resolve(_to_digest(other), FakePool(fake))


# -- the manifest tree: each child once, and caps per index, per tree and in bytes ---------
def _index(children: list[bytes]) -> bytes:
    entries = [
        {"mediaType": mediatypes.OCI_MANIFEST, "digest": digest_of(c), "size": len(c)}
        for c in children
    ]
    return json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries}
    ).encode()


def _tree(top: bytes, manifests: list[bytes]) -> FakeTransport:
    """A source whose ``v1`` is the index ``top``, serving each of ``manifests`` by digest."""
    fake = FakeTransport()
    open_registry(fake, "src.example")
    open_registry(fake, "dst.example")
    head = {"Docker-Content-Digest": digest_of(top), "Content-Type": mediatypes.OCI_INDEX}
    base = f"https://src.example/v2/{SRC.path}/manifests"
    fake.on("HEAD", f"{base}/v1", Reply(200, head))
    fake.on("HEAD", manifest_url(), Reply(404))
    for body in [top, *manifests]:
        media = mediatypes.OCI_INDEX if b'"manifests"' in body else mediatypes.OCI_MANIFEST
        fake.on("GET", f"{base}/{digest_of(body)}", Reply(200, {"Content-Type": media}, body))
    return fake


def _gets(fake: FakeTransport) -> list[str]:
    return [
        s.url.rsplit("/", 1)[1] for s in fake.seen if s.method == "GET" and "/manifests/" in s.url
    ]


def test_a_child_listed_again_and_again_across_sub_indexes_is_fetched_once() -> None:
    child = _manifest()
    subs = [_index([child] * (300 + i)) for i in range(3)]  # distinct indexes, one child
    top = _index(subs)
    fake = _tree(top, [*subs, child])

    res = resolve(image().job, FakePool(fake))

    assert _gets(fake).count(digest_of(child)) == 1
    assert [ref for ref, _ in res.pushes] == [
        digest_of(child),
        digest_of(subs[0]),
        digest_of(subs[1]),
        digest_of(subs[2]),
        "v1",
    ]


def test_an_index_listing_more_than_the_cap_per_index_fails_before_any_child_is_fetched() -> None:
    child = _manifest()
    top = _index([child] * (defaults.MAX_INDEX_CHILDREN + 1))
    fake = _tree(top, [child])

    with pytest.raises(UnsupportedError) as err:
        resolve(image().job, FakePool(fake))

    assert f"lists {defaults.MAX_INDEX_CHILDREN + 1} manifests" in str(err.value)
    assert f"at most {defaults.MAX_INDEX_CHILDREN} are followed" in str(err.value)
    assert _gets(fake) == [digest_of(top)]


def test_entries_past_the_cap_per_tree_fail_the_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "MAX_TREE_CHILDREN", 40)
    child = _manifest()
    subs = [_index([child] * (20 + i)) for i in range(3)]  # 3 + 20, then 21 more: past 40
    fake = _tree(_index(subs), [*subs, child])

    with pytest.raises(UnsupportedError) as err:
        resolve(image().job, FakePool(fake))

    assert "its indexes list more than 40 manifests in all" in str(err.value)
    assert digest_of(subs[2]) not in _gets(fake)


def test_manifests_past_the_bytes_cap_per_image_fail_it_naming_image_and_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    children = [
        json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST, "pad": f"{i}" * 900})
        .encode()
        .replace(b'"pad"', b'"layers": [], "pad"')
        for i in range(10)
    ]
    top = _index(children)
    fake = _tree(top, children)
    cap = len(top) + sum(len(c) for c in children[:3])  # the index and three children fit
    monkeypatch.setenv("SYNCER_MAX_TREE_BYTES", str(cap))

    with pytest.raises(ResponseTooLargeError) as err:
        resolve(image().job, FakePool(fake))

    assert str(err.value).startswith("src.example/team/app:v1: its manifests pass the ")
    assert f"{cap} bytes cap per image ($SYNCER_MAX_TREE_BYTES)" in str(err.value)
    assert len(_gets(fake)) == 1 + 4  # the index, and the children until one passed the cap


# -- after the push: the tag must resolve to the pushed digest ---------------------------
def _pushed(head: Reply, get: Reply | None = None) -> FakeTransport:
    fake = FakeTransport()
    open_registry(fake, "dst.example")
    fake.on("PUT", manifest_url(), Reply(201))
    fake.on("HEAD", manifest_url(), head)
    if get is not None:
        fake.on("GET", manifest_url(), get)
    return fake


def test_a_push_is_confirmed_by_one_head_of_the_tag() -> None:
    fake = _pushed(Reply(200, {"Docker-Content-Digest": digest_of(MANIFEST)}))
    push_manifests(image(), FakePool(fake))
    assert [s.method for s in fake.seen if "/manifests/" in s.url] == ["PUT", "HEAD"]


@pytest.mark.parametrize(
    ("head", "get", "got"),
    [
        (Reply(404), None, "no manifest at all (HTTP 404)"),
        (Reply(200, {"Docker-Content-Digest": "sha256:" + "e" * 64}), None, "sha256:" + "e" * 64),
        (Reply(200), Reply(200, {}, b'{"other": 1}'), digest_of(b'{"other": 1}')),
    ],
    ids=["stored nothing", "holds another digest", "no digest on HEAD, other bytes on GET"],
)
def test_a_tag_that_does_not_resolve_to_the_pushed_digest_fails_naming_both(
    head: Reply, get: Reply | None, got: str
) -> None:
    fake = _pushed(head, get)
    with pytest.raises(DigestMismatchError) as caught:
        push_manifests(image(), FakePool(fake))
    assert str(caught.value) == (
        f"digest mismatch for {DST}:v1 after the push: expected {digest_of(MANIFEST)}, got {got}"
    )


def test_a_head_without_digest_is_settled_by_the_bytes_under_the_tag() -> None:
    fake = _pushed(Reply(200), Reply(200, {}, MANIFEST))
    push_manifests(image(), FakePool(fake))
