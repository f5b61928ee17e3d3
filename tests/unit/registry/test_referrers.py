"""The referrers API and the Referrers Tag Schema at the client level, on a fake transport."""

from __future__ import annotations

import json

import pytest

from syncer.errors import ResponseTooLargeError, UnsupportedError
from syncer.oci import digests, mediatypes
from syncer.oci.models import RawManifest
from syncer.oci.reference import Repository
from syncer.registry import referrers as api
from tests.support.fakes import BASE, FakeTransport, Reply, client, json_reply

REPO = Repository.parse("reg.example/team/app")
SUBJECT = "sha256:" + "a" * 64
SIG = {
    "mediaType": mediatypes.OCI_MANIFEST,
    "digest": "sha256:" + "b" * 64,
    "size": 500,
    "artifactType": "application/vnd.example.sig",
}
SBOM = {
    "mediaType": mediatypes.OCI_MANIFEST,
    "digest": "sha256:" + "c" * 64,
    "size": 600,
    "artifactType": "application/spdx+json",
    "annotations": {"by": "ci"},
}
API = f"{BASE}/v2/team/app/referrers/{SUBJECT}"
TAG = f"{BASE}/v2/team/app/manifests/sha256-{'a' * 64}"


def _index(*entries: dict[str, object]) -> dict[str, object]:
    return {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": list(entries)}


def test_the_api_list_is_read_and_the_type_hint_sent(fake: FakeTransport) -> None:
    fake.on("GET", API, json_reply(_index(SIG, SBOM)))
    got = api.list_api(client(fake), REPO, SUBJECT, "application/spdx+json")
    assert [e.digest for e in got or []] == [SIG["digest"], SBOM["digest"]]
    assert [e.artifact_type for e in got or []] == [SIG["artifactType"], SBOM["artifactType"]]
    assert fake.requests_to("GET", API)[0].query == {"artifactType": ["application/spdx+json"]}


def test_a_registry_without_the_api_answers_404_and_that_is_none(fake: FakeTransport) -> None:
    fake.on("GET", API, json_reply({"errors": [{"code": "NAME_UNKNOWN"}]}, status=404))
    assert api.list_api(client(fake), REPO, SUBJECT) is None


@pytest.mark.parametrize(
    "doc",
    [
        {"manifests": [{"digest": "sha256:short"}]},
        {"manifests": [{"digest": "md5:" + "0" * 32}]},
        {"manifests": [{**SIG, "size": -1}]},
        {"manifests": [{**SIG, "annotations": ["x"]}]},
        {"manifests": "all of them"},
        ["not", "an", "index"],
    ],
)
def test_a_malformed_list_is_refused(fake: FakeTransport, doc: object) -> None:
    fake.on("GET", API, json_reply(doc))
    with pytest.raises(UnsupportedError):
        api.list_api(client(fake), REPO, SUBJECT)


def test_the_list_is_read_with_a_cap(fake: FakeTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_MAX_MANIFEST", "100")
    fake.on("GET", API, json_reply(_index(SIG, SBOM)))
    with pytest.raises(ResponseTooLargeError):
        api.list_api(client(fake), REPO, SUBJECT)


def test_a_subject_that_is_not_a_digest_never_reaches_a_url(fake: FakeTransport) -> None:
    with pytest.raises(UnsupportedError):
        api.list_api(client(fake), REPO, "../../manifests/latest")
    assert not [s for s in fake.seen if "referrers" in s.url]


def test_the_fallback_tag_names_the_subject() -> None:
    assert api.fallback_tag(SUBJECT) == "sha256-" + "a" * 64


def test_merging_keeps_what_is_listed_and_adds_only_the_missing() -> None:
    current = [api.ReferrerEntry.from_json(SBOM, "t")]
    adding = [api.ReferrerEntry.from_json(SIG, "t"), api.ReferrerEntry.from_json(SBOM, "t")]
    body = api.merged_index(current, adding)
    assert body is not None
    assert json.loads(body)["manifests"] == [SBOM, SIG]  # annotations kept, order kept
    assert api.merged_index(current, current) is None


def test_write_fallback_merges_with_the_index_already_at_the_tag(fake: FakeTransport) -> None:
    stored = json.dumps(_index(SBOM)).encode()
    fake.on("GET", TAG, Reply(200, {"Content-Type": mediatypes.OCI_INDEX}, stored))
    fake.on("PUT", TAG, Reply(201))
    wrote = api.write_fallback(client(fake), REPO, SUBJECT, [api.ReferrerEntry.from_json(SIG, "t")])
    assert wrote
    (put,) = fake.requests_to("PUT", TAG)
    assert json.loads(put.body)["manifests"] == [SBOM, SIG]
    assert put.headers["Content-Type"] == mediatypes.OCI_INDEX


def test_write_fallback_writes_nothing_when_the_entry_is_listed(fake: FakeTransport) -> None:
    stored = json.dumps(_index(SIG)).encode()
    fake.on("GET", TAG, Reply(200, {"Content-Type": mediatypes.OCI_INDEX}, stored))
    assert not api.write_fallback(
        client(fake), REPO, SUBJECT, [api.ReferrerEntry.from_json(SIG, "t")]
    )
    assert not fake.requests_to("PUT", TAG)


def test_write_fallback_starts_an_index_where_there_is_none(fake: FakeTransport) -> None:
    fake.on("GET", TAG, json_reply({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status=404))
    fake.on("PUT", TAG, Reply(201))
    entry = api.ReferrerEntry.from_json(SIG, "t")
    assert api.write_fallback(client(fake), REPO, SUBJECT, [entry])
    (put,) = fake.requests_to("PUT", TAG)
    assert json.loads(put.body) == _index(SIG)
    assert [s.method for s in fake.seen if "/manifests/" in s.url] == ["GET", "PUT"]


def _source(*entries: dict[str, object]) -> RawManifest:
    body = json.dumps(_index(*entries), indent=3).encode()  # formatted as no client of ours
    return RawManifest(body, mediatypes.OCI_INDEX, digests.compute(body))


def test_write_fallback_takes_the_sources_bytes_once_it_lists_the_same(
    fake: FakeTransport,
) -> None:
    stored = json.dumps(_index(SBOM), separators=(",", ":")).encode()  # the first to land
    fake.on("GET", TAG, Reply(200, {"Content-Type": mediatypes.OCI_INDEX}, stored))
    fake.on("PUT", TAG, Reply(201))
    source = _source(SIG, SBOM)
    entry = api.ReferrerEntry.from_json(SIG, "t")

    assert api.write_fallback(client(fake), REPO, SUBJECT, [entry], source)
    (put,) = fake.requests_to("PUT", TAG)
    assert put.body == source.body  # the source's order and bytes, not a merge of ours


def test_write_fallback_merges_while_the_source_lists_more(fake: FakeTransport) -> None:
    fake.on("GET", TAG, json_reply({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status=404))
    fake.on("PUT", TAG, Reply(201))
    source = _source(SIG, SBOM)

    assert api.write_fallback(
        client(fake), REPO, SUBJECT, [api.ReferrerEntry.from_json(SIG, "t")], source
    )
    (put,) = fake.requests_to("PUT", TAG)
    assert json.loads(put.body) == _index(SIG) and put.body != source.body


def test_write_fallback_leaves_the_sources_bytes_alone(fake: FakeTransport) -> None:
    source = _source(SIG, SBOM)
    fake.on("GET", TAG, Reply(200, {"Content-Type": mediatypes.OCI_INDEX}, source.body))
    entry = api.ReferrerEntry.from_json(SBOM, "t")
    assert not api.write_fallback(client(fake), REPO, SUBJECT, [entry], source)
    assert not fake.requests_to("PUT", TAG)


def test_a_list_longer_than_the_cap_is_refused_not_cut(
    fake: FakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "MAX_REFERRERS", 1)
    fake.on("GET", API, json_reply(_index(SIG, SBOM)))
    with pytest.raises(UnsupportedError, match="more than 1 referrers"):
        api.list_api(client(fake), REPO, SUBJECT)


def test_a_list_nested_past_the_recursion_limit_is_refused(fake: FakeTransport) -> None:
    fake.on("GET", API, Reply(200, {}, b"[" * 5000 + b"]" * 5000))
    with pytest.raises(UnsupportedError, match="referrers list is not JSON"):
        api.list_api(client(fake), REPO, SUBJECT)


@pytest.mark.parametrize(
    ("tag", "schema"),
    [
        ("sha256-" + "a" * 64, True),
        ("sha512-" + "0" * 128, True),
        ("sha256-" + "a" * 63, False),
        ("sha256-" + "A" * 64, False),  # the schema's hex is lower case, as a digest's
        ("sha256-" + "a" * 64 + ".sig", False),  # cosign's tag: an image of its own
        ("sha384-" + "a" * 96, False),
        ("v1.0", False),
    ],
)
def test_the_tag_schema_form_is_an_algorithm_and_a_whole_digest(tag: str, schema: bool) -> None:
    assert api.is_fallback_tag(tag) is schema
