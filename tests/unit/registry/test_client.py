"""RegistryClient against a fake transport: one API operation per test, edge cases first."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from syncer.errors import (
    AuthError,
    DigestMismatchError,
    HTTPError,
    NotFoundError,
    RegistryError,
    TLSError,
    TransportError,
    UnsupportedError,
    is_transient,
)
from syncer.oci import mediatypes
from syncer.oci.models import RawManifest, SizedBody
from syncer.oci.reference import Repository
from syncer.registry import transport
from syncer.registry.client import RegistryClient
from syncer.registry.credentials import AuthEntry
from tests.support.fakes import (
    BASE,
    HOST,
    FakeTransport,
    Reply,
    TokenEndpoint,
    bearer_registry,
    client,
    json_reply,
    mounted,
    needs_token,
    open_registry,
    raises,
)
from tests.support.schema1 import signed_schema1

REPO = Repository.parse("reg.example/team/app")
SOURCE = Repository.parse("reg.example/team/base")
UPLOADS = f"{BASE}/v2/team/app/blobs/uploads/"
BODY = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
BLOB = "sha256:" + "b" * 64


# -- upload Locations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/v2/team/app/blobs/uploads/u1?_state=s", f"{BASE}/v2/team/app/blobs/uploads/u1?_state=s"),
        ("u1?_state=s", f"{UPLOADS}u1?_state=s"),
        ("https://upload.example/u1?_state=s", "https://upload.example/u1?_state=s"),
    ],
)
def test_start_upload_completes_relative_location(
    fake: FakeTransport, location: str, expected: str
) -> None:
    fake.on("POST", UPLOADS, Reply(202, {"Location": location}))
    assert client(fake).start_upload(REPO) == expected


def test_missing_location_is_a_registry_error_without_query(fake: FakeTransport) -> None:
    fake.on("POST", UPLOADS, Reply(202))
    with pytest.raises(RegistryError, match="no Location") as info:
        client(fake).start_upload(REPO)
    assert type(info.value) is RegistryError and "?" not in str(info.value)


def test_finish_upload_keeps_session_state_and_adds_digest(fake: FakeTransport) -> None:
    fake.on("PUT", f"{UPLOADS}u1", Reply(201))
    client(fake).finish_upload(REPO, f"{UPLOADS}u1?_state=s", BLOB, b"data")
    (put,) = fake.requests_to("PUT", f"{UPLOADS}u1")
    assert put.query == {"_state": ["s"], "digest": [BLOB]} and put.body == b"data"
    assert put.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(("header", "offset"), [("0-99", 100), ("0-0", 0), (None, 0)])
def test_upload_offset_reads_range(fake: FakeTransport, header: str | None, offset: int) -> None:
    headers = {"Range": header, "Location": "/v2/team/app/blobs/uploads/u2"} if header else {}
    fake.on("GET", f"{UPLOADS}u1", Reply(204, headers))
    url, held = client(fake).upload_offset(REPO, f"{UPLOADS}u1")
    assert held == offset
    assert url == (f"{UPLOADS}u2" if header else f"{UPLOADS}u1")


def test_credentials_stay_on_the_registry_host() -> None:
    fake = FakeTransport()
    fake.on("GET", f"{BASE}/v2/", Reply(401, {"WWW-Authenticate": 'Basic realm="reg"'}))
    fake.on("POST", UPLOADS, Reply(202, {"Location": "http://elsewhere.example/u1"}))
    fake.on("PUT", "http://elsewhere.example/u1", Reply(201))
    c = client(fake, AuthEntry("alice", "s3cret-pw"))

    c.finish_upload(REPO, c.start_upload(REPO), BLOB, b"data")

    (put,) = fake.requests_to("PUT", "http://elsewhere.example/u1")
    assert "Authorization" not in put.headers


# -- manifests ------------------------------------------------------------------------------


def test_head_manifest_none_on_404(fake: FakeTransport) -> None:
    fake.on("HEAD", f"{BASE}/v2/team/app/manifests/v1", Reply(404))
    assert client(fake).head_manifest(REPO, "v1") is None


def test_head_manifest_reads_headers(fake: FakeTransport) -> None:
    headers = {
        "Docker-Content-Digest": DIGEST,
        "Content-Length": "1234",
        "Content-Type": f"{mediatypes.OCI_INDEX}; charset=utf-8",
    }
    fake.on("HEAD", f"{BASE}/v2/team/app/manifests/v1", Reply(200, headers))
    head = client(fake).head_manifest(REPO, "v1")
    assert head is not None
    assert (head.digest, head.media_type, head.size) == (DIGEST, mediatypes.OCI_INDEX, 1234)
    assert fake.seen[-1].headers["Accept"] == mediatypes.MANIFEST_ACCEPT


def test_get_manifest_404_keeps_registry_codes(fake: FakeTransport) -> None:
    payload = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
    fake.on("GET", f"{BASE}/v2/team/app/manifests/v1", json_reply(payload, 404))
    with pytest.raises(NotFoundError) as info:
        client(fake).get_manifest(REPO, "v1")
    assert info.value.codes == ["MANIFEST_UNKNOWN"] and info.value.status == 404
    assert info.value.url == f"{BASE}/v2/team/app/manifests/v1"


def test_get_manifest_by_digest_verifies_bytes(fake: FakeTransport) -> None:
    other = "sha256:" + "0" * 64
    headers = {"Content-Type": mediatypes.OCI_MANIFEST, "Docker-Content-Digest": other}
    fake.on("GET", f"{BASE}/v2/team/app/manifests/{other}", Reply(200, headers, BODY))
    with pytest.raises(DigestMismatchError) as info:
        client(fake).get_manifest(REPO, other)
    assert (info.value.expected, info.value.actual) == (other, DIGEST)


def test_get_manifest_by_tag_reports_computed_digest(fake: FakeTransport) -> None:
    lying = {"Content-Type": mediatypes.OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "0" * 64}
    fake.on("GET", f"{BASE}/v2/team/app/manifests/v1", Reply(200, lying, BODY))
    assert client(fake).get_manifest(REPO, "v1") == RawManifest(
        BODY, mediatypes.OCI_MANIFEST, DIGEST
    )


def test_get_signed_schema1_by_digest_verifies_its_payload(fake: FakeTransport) -> None:
    body, signed = signed_schema1([BLOB])  # the digest excludes the JWS signatures
    headers = {"Content-Type": mediatypes.DOCKER_MANIFEST_V1_SIGNED}
    fake.on("GET", f"{BASE}/v2/team/app/manifests/{signed}", Reply(200, headers, body))
    assert client(fake).get_manifest(REPO, signed) == RawManifest(
        body, mediatypes.DOCKER_MANIFEST_V1_SIGNED, signed
    )
    fake.on("GET", f"{BASE}/v2/team/app/manifests/v1", Reply(200, headers, body))
    assert client(fake).get_manifest(REPO, "v1").digest == signed


def test_get_schema1_by_digest_with_other_bytes_is_a_mismatch(fake: FakeTransport) -> None:
    _, wanted = signed_schema1([BLOB])
    other, served = signed_schema1(["sha256:" + "c" * 64])
    headers = {
        "Content-Type": mediatypes.DOCKER_MANIFEST_V1_SIGNED,
        "Docker-Content-Digest": wanted,
    }
    fake.on("GET", f"{BASE}/v2/team/app/manifests/{wanted}", Reply(200, headers, other))
    with pytest.raises(DigestMismatchError) as info:
        client(fake).get_manifest(REPO, wanted)
    assert (info.value.expected, info.value.actual) == (wanted, served)


def test_get_schema1_whose_payload_cannot_be_rebuilt_is_refused(fake: FakeTransport) -> None:
    signed = "sha256:" + "1" * 64
    headers = {
        "Content-Type": mediatypes.DOCKER_MANIFEST_V1_SIGNED,
        "Docker-Content-Digest": signed,
    }
    fake.on("GET", f"{BASE}/v2/team/app/manifests/{signed}", Reply(200, headers, BODY))
    with pytest.raises(UnsupportedError, match=f"team/app@{signed}: signed schema1"):
        client(fake).get_manifest(REPO, signed)


@pytest.mark.parametrize("algorithm", ["sha384", "sha512"])
def test_get_manifest_by_other_algorithms_verifies_in_them(
    fake: FakeTransport, algorithm: str
) -> None:
    good = f"{algorithm}:" + hashlib.new(algorithm, BODY).hexdigest()
    bad = f"{algorithm}:" + hashlib.new(algorithm, b"other").hexdigest()
    headers = {"Content-Type": mediatypes.OCI_MANIFEST}
    for ref in (good, bad):
        fake.on("GET", f"{BASE}/v2/team/app/manifests/{ref}", Reply(200, headers, BODY))
    assert client(fake).get_manifest(REPO, good).digest == good
    with pytest.raises(DigestMismatchError) as info:
        client(fake).get_manifest(REPO, bad)
    assert info.value.actual == good


def test_get_manifest_by_unknown_algorithm_is_refused_unsent(fake: FakeTransport) -> None:
    with pytest.raises(UnsupportedError, match="unsupported digest algorithm 'md5'"):
        client(fake).get_manifest(REPO, "md5:" + "0" * 32)
    assert not fake.requests_to("GET", f"{BASE}/v2/team/app/manifests/md5:" + "0" * 32)


def test_put_manifest_sends_exact_bytes(fake: FakeTransport) -> None:
    fake.on(
        "PUT", f"{BASE}/v2/team/app/manifests/v1", Reply(201, {"Docker-Content-Digest": DIGEST})
    )
    raw = RawManifest(BODY, mediatypes.OCI_MANIFEST, DIGEST)
    assert client(fake).put_manifest(REPO, "v1", raw) == DIGEST
    (put,) = fake.requests_to("PUT", f"{BASE}/v2/team/app/manifests/v1")
    assert put.body == BODY and put.headers["Content-Type"] == mediatypes.OCI_MANIFEST


@pytest.mark.parametrize(
    "answered",
    ["sha256:" + "0" * 64, "not a digest", "sha512:" + "0" * 128],
    ids=["another sha256", "garbage", "a sha512 of other bytes"],
)
def test_a_manifest_put_answered_with_another_digest_fails_naming_both(
    fake: FakeTransport, answered: str
) -> None:
    fake.on(
        "PUT", f"{BASE}/v2/team/app/manifests/v1", Reply(201, {"Docker-Content-Digest": answered})
    )
    raw = RawManifest(BODY, mediatypes.OCI_MANIFEST, DIGEST)
    with pytest.raises(DigestMismatchError) as caught:
        client(fake).put_manifest(REPO, "v1", raw)
    assert str(caught.value) == (
        f"digest mismatch for PUT manifest {REPO}:v1 (Docker-Content-Digest): "
        f"expected {DIGEST}, got {answered}"
    )
    assert not is_transient(caught.value)


def test_a_manifest_put_answered_in_another_algorithm_of_the_same_bytes_passes(
    fake: FakeTransport,
) -> None:
    sha512 = "sha512:" + hashlib.sha512(BODY).hexdigest()
    fake.on(
        "PUT", f"{BASE}/v2/team/app/manifests/v1", Reply(201, {"Docker-Content-Digest": sha512})
    )
    raw = RawManifest(BODY, mediatypes.OCI_MANIFEST, DIGEST)
    assert client(fake).put_manifest(REPO, "v1", raw) == DIGEST


def test_a_blob_put_or_mount_answered_with_another_digest_fails_naming_both(
    fake: FakeTransport,
) -> None:
    other = "sha256:" + "c" * 64
    fake.on("PUT", f"{UPLOADS}u1", Reply(201, {"Docker-Content-Digest": other}))
    with pytest.raises(DigestMismatchError, match=f"expected {BLOB}, got {other}"):
        client(fake).finish_upload(REPO, f"{UPLOADS}u1", BLOB, b"data")
    fake.on("POST", UPLOADS, Reply(201, {"Docker-Content-Digest": other}))
    with pytest.raises(DigestMismatchError, match=f"mount {BLOB} into {REPO}"):
        client(fake).mount_blob(REPO, BLOB, SOURCE)
    # The digest sent, or none at all (some registries say nothing), passes.
    fake.on("PUT", f"{UPLOADS}u1", Reply(201, {"Docker-Content-Digest": BLOB}))
    client(fake).finish_upload(REPO, f"{UPLOADS}u1", BLOB, b"data")
    fake.on("POST", UPLOADS, Reply(201))
    assert client(fake).mount_blob(REPO, BLOB, SOURCE) is True


def test_list_tags_follows_link_pagination(fake: FakeTransport) -> None:
    pages = {
        "2": json_reply(
            {"name": "team/app", "tags": ["a", "b"]},
            Link='</v2/team/app/tags/list?n=2&last=b>; rel="next"',
        ),
        "b": json_reply({"name": "team/app", "tags": ["c"]}),
    }
    fake.on(
        "GET", f"{BASE}/v2/team/app/tags/list", lambda seen: pages[seen.query.get("last", ["2"])[0]]
    )
    assert list(client(fake).list_tags(REPO, page_size=2)) == ["a", "b", "c"]
    queries = [s.query for s in fake.requests_to("GET", f"{BASE}/v2/team/app/tags/list")]
    assert queries == [{"n": ["2"]}, {"n": ["2"], "last": ["b"]}]


def test_list_tags_null_tags(fake: FakeTransport) -> None:
    fake.on("GET", f"{BASE}/v2/team/app/tags/list", json_reply({"name": "x", "tags": None}))
    assert list(client(fake).list_tags(REPO)) == []


# -- blobs ----------------------------------------------------------------------------------


def test_mount_blob_201_is_true(fake: FakeTransport) -> None:
    fake.on("POST", UPLOADS, Reply(201))
    assert client(fake).mount_blob(REPO, BLOB, SOURCE) is True
    assert fake.seen[-1].query == {"mount": [BLOB], "from": ["team/base"]}


def test_mount_blob_202_cancels_the_opened_session(fake: FakeTransport) -> None:
    fake.on("POST", UPLOADS, Reply(202, {"Location": "/v2/team/app/blobs/uploads/u9"}))
    fake.on("DELETE", f"{UPLOADS}u9", Reply(204))
    assert client(fake).mount_blob(REPO, BLOB, SOURCE) is False
    assert len(fake.requests_to("DELETE", f"{UPLOADS}u9")) == 1


def test_blob_exists(fake: FakeTransport) -> None:
    fake.on("HEAD", f"{BASE}/v2/team/app/blobs/{BLOB}", Reply(200))
    fake.on("HEAD", f"{BASE}/v2/team/base/blobs/{BLOB}", Reply(404))
    c = client(fake)
    assert c.blob_exists(REPO, BLOB) and not c.blob_exists(SOURCE, BLOB)


def test_blob_redirect_does_not_forward_authorization() -> None:
    fake, tokens = FakeTransport(), TokenEndpoint()
    bearer_registry(fake, tokens)
    cdn = "https://cdn.example/blobs/b?sig=1"
    fake.on(
        "GET",
        f"{BASE}/v2/team/app/blobs/{BLOB}",
        needs_token("tok-1", Reply(307, {"Location": cdn})),
    )
    fake.on("GET", "https://cdn.example/blobs/b", Reply(200, {}, b"blob"))

    resp = client(fake, AuthEntry("alice", "pw")).open_blob(REPO, BLOB, offset=5)

    assert resp.content == b"blob"
    (at_cdn,) = fake.requests_to("GET", "https://cdn.example/blobs/b")
    assert "Authorization" not in at_cdn.headers and at_cdn.headers["Range"] == "bytes=5-"
    assert (
        fake.requests_to("GET", f"{BASE}/v2/team/app/blobs/{BLOB}")[-1].headers["Authorization"]
        == "Bearer tok-1"
    )


def test_client_never_sends_cookies_back(fake: FakeTransport) -> None:
    fake.on("GET", f"{BASE}/v2/", Reply(200, {"Set-Cookie": "_gorilla_csrf=abc; Path=/"}))
    fake.on(
        "POST",
        UPLOADS,
        Reply(202, {"Location": "/v2/team/app/blobs/uploads/u1", "Set-Cookie": "sid=2; Path=/"}),
    )
    fake.on("PUT", f"{UPLOADS}u1", Reply(201))
    c = client(fake, session=transport.new_session())

    c.finish_upload(REPO, c.start_upload(REPO), BLOB, b"x")

    assert [s for s in fake.seen if "Cookie" in s.headers] == []


# -- the choke point and the scheme probe --------------------------------------------------


def test_adapter_exceptions_become_transport_errors(fake: FakeTransport) -> None:
    cause = requests.exceptions.ConnectionError("reset")
    fake.on("GET", f"{BASE}/v2/team/app/manifests/v1", raises(cause))
    with pytest.raises(TransportError) as info:
        client(fake).get_manifest(REPO, "v1")
    assert info.value.__cause__ is cause


def test_insecure_falls_back_to_http_after_tls_error() -> None:
    fake = FakeTransport()
    fake.on("GET", f"https://{HOST}/v2/", raises(requests.exceptions.SSLError("wrong version")))
    fake.on("GET", f"http://{HOST}/v2/", Reply(200))
    c = client(fake, insecure=True)
    assert c.base_url == f"http://{HOST}"
    assert [s.verify for s in fake.seen] == [False, False]


def test_loopback_falls_back_to_http() -> None:
    fake = FakeTransport()
    fake.on("GET", "https://localhost:5000/v2/", raises(requests.exceptions.SSLError("x")))
    fake.on("GET", "http://localhost:5000/v2/", Reply(200))
    assert client(fake, host="localhost:5000").base_url == "http://localhost:5000"


def test_secure_registry_does_not_fall_back() -> None:
    fake = FakeTransport()
    cause = requests.exceptions.SSLError("certificate verify failed")
    fake.on("GET", f"https://{HOST}/v2/", raises(cause))
    with pytest.raises(TLSError) as info:
        _ = client(fake).base_url
    assert info.value.__cause__ is cause and len(fake.seen) == 1


def test_probe_happens_once(fake: FakeTransport) -> None:
    fake.on("HEAD", f"{BASE}/v2/team/app/blobs/{BLOB}", Reply(200))
    c = client(fake)
    c.blob_exists(REPO, BLOB)
    c.blob_exists(REPO, BLOB)
    assert len(fake.requests_to("GET", f"{BASE}/v2/")) == 1


# -- origins: where credentials and bodies may go ---------------------------------------------

EVIL_REALM = "https://collector.example/token"
CDN = "https://cdn.example/blobs/b"


def test_a_401_from_a_redirect_target_is_not_learnt() -> None:
    fake = FakeTransport()
    fake.on("GET", f"{BASE}/v2/", Reply(200))
    fake.on("GET", f"{BASE}/v2/team/app/blobs/{BLOB}", Reply(307, {"Location": CDN}))
    foreign = f'Bearer realm="{EVIL_REALM}",service="cdn"'
    fake.on("GET", CDN, Reply(401, {"WWW-Authenticate": foreign}))
    fake.on("GET", EVIL_REALM, TokenEndpoint())
    c = client(fake, AuthEntry("alice", "s3cret-pw"))

    with pytest.raises(AuthError) as info:
        c.open_blob(REPO, BLOB)

    assert "cdn.example" in str(info.value) and "not the registry reg.example" in str(info.value)
    assert fake.requests_to("GET", EVIL_REALM) == [] and c.auth.challenge is None
    assert len(fake.requests_to("GET", f"{BASE}/v2/team/app/blobs/{BLOB}")) == 1


def test_a_401_from_where_the_ping_was_redirected_is_not_learnt() -> None:
    fake = FakeTransport()
    fake.on("GET", f"{BASE}/v2/", Reply(302, {"Location": "https://login.example/v2/"}))
    foreign = f'Bearer realm="{EVIL_REALM}"'
    fake.on("GET", "https://login.example/v2/", Reply(401, {"WWW-Authenticate": foreign}))
    c = client(fake, AuthEntry("alice", "s3cret-pw"))

    with pytest.raises(AuthError, match="login.example"):
        _ = c.base_url
    assert c.auth.challenge is None


def test_a_401_after_a_redirect_on_the_registry_itself_is_learnt() -> None:
    fake, tokens = FakeTransport(), TokenEndpoint()
    bearer_registry(fake, tokens)
    moved = f"{BASE}/v2/team/app/manifests/v1-moved"
    fake.on("GET", f"{BASE}/v2/team/app/manifests/v1", Reply(307, {"Location": moved}))
    fake.on("GET", moved, needs_token("tok-1", json_reply({"schemaVersion": 2})))

    client(fake, AuthEntry("alice", "pw")).get_manifest(REPO, "v1")

    assert [s.headers.get("Authorization") for s in fake.requests_to("GET", moved)] == [
        "Bearer tok-1"
    ]


@pytest.mark.parametrize(
    "target",
    [
        "https://elsewhere.example/u1",  # another host
        f"http://{HOST}/u1",  # the same host, downgraded to http
        f"https://{HOST}:8443/u1",  # the same host, another port
    ],
)
def test_upload_locations_on_another_origin_get_no_credentials(target: str) -> None:
    fake = FakeTransport()
    fake.on("GET", f"{BASE}/v2/", Reply(401, {"WWW-Authenticate": 'Basic realm="reg"'}))
    fake.on("POST", UPLOADS, Reply(202, {"Location": target}))
    fake.on("PUT", target, Reply(201))
    c = client(fake, AuthEntry("alice", "s3cret-pw"))

    c.finish_upload(REPO, c.start_upload(REPO), BLOB, b"data")

    assert "Authorization" in fake.requests_to("POST", UPLOADS)[0].headers
    (put,) = fake.requests_to("PUT", target)
    assert "Authorization" not in put.headers


ELSEWHERE = "https://elsewhere.example/catch"


def _writes(c: RegistryClient) -> dict[str, Callable[[], object]]:
    manifest = RawManifest(BODY, mediatypes.OCI_MANIFEST, DIGEST)
    return {
        "manifest PUT": lambda: c.put_manifest(REPO, "v1", manifest),
        "upload POST": lambda: c.start_upload(REPO),
        "mount POST": lambda: c.mount_blob(REPO, BLOB, SOURCE),
        "upload PATCH": lambda: c.patch_upload(REPO, f"{UPLOADS}u1", SizedBody([b"x"], 1), 0),
        "upload PUT": lambda: c.finish_upload(REPO, f"{UPLOADS}u1", BLOB, b"x"),
    }


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize(
    "write", ["manifest PUT", "upload POST", "mount POST", "upload PATCH", "upload PUT"]
)
def test_writes_are_never_redirected(fake: FakeTransport, status: int, write: str) -> None:
    moved = Reply(status, {"Location": ELSEWHERE})
    fake.on("PUT", f"{BASE}/v2/team/app/manifests/v1", moved)
    fake.on("POST", UPLOADS, moved)
    fake.on("PATCH", f"{UPLOADS}u1", moved)
    fake.on("PUT", f"{UPLOADS}u1", moved)
    for method in ("GET", "PUT", "POST", "PATCH"):
        fake.on(method, ELSEWHERE, Reply(201))

    with pytest.raises(HTTPError) as info:
        _writes(client(fake, AuthEntry("alice", "pw")))[write]()

    assert info.value.status == status and not is_transient(info.value)
    assert f"HTTP {status} redirect to elsewhere.example not followed" in str(info.value)
    assert [s for s in fake.seen if "elsewhere" in s.url] == []


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (f"{BASE}/v2/x", "https://cdn.example/x"),  # host
        (f"{BASE}/v2/x", f"http://{HOST}/x"),  # scheme downgrade
        (f"{BASE}/v2/x", f"https://{HOST}:8443/x"),  # port
        (f"http://{HOST}/v2/x", f"https://{HOST}/x"),  # upgrade: requests itself keeps it
    ],
)
def test_the_session_drops_authorization_on_any_origin_change(start: str, target: str) -> None:
    fake = FakeTransport()
    fake.on("GET", start, Reply(302, {"Location": target}))
    fake.on("GET", target, Reply(200))
    session = mounted(fake, transport.new_session())

    session.get(start, headers={"Authorization": "Basic c2VjcmV0"}, timeout=5)

    (moved,) = fake.requests_to("GET", target)
    assert "Authorization" not in moved.headers


def test_the_session_never_reads_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {HOST} login bob password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    fake = FakeTransport()
    open_registry(fake)
    fake.on("GET", f"{BASE}/v2/team/app/tags/list", Reply(302, {"Location": f"{BASE}/v2/t"}))
    fake.on("GET", f"{BASE}/v2/t", json_reply({"tags": ["v1"]}))
    session = mounted(fake, transport.new_session())
    session.trust_env = True  # as it is when proxy variables are set

    assert list(client(fake, session=session).list_tags(REPO)) == ["v1"]
    assert [s.url for s in fake.seen if "Authorization" in s.headers] == []


@pytest.mark.parametrize("value", ["\u00b2", "9" * 5000, "-1", "lots"])
def test_header_numbers_that_are_no_numbers_are_ignored_not_crashed_on(
    fake: FakeTransport, value: str
) -> None:
    head = {"Docker-Content-Digest": DIGEST, "Content-Length": value}
    fake.on("HEAD", f"{BASE}/v2/team/app/manifests/v1", Reply(200, head))
    got = client(fake).head_manifest(REPO, "v1")
    assert got is not None and got.size == 0
    fake.on("GET", f"{UPLOADS}u1", Reply(204, {"Range": f"0-{value}"}))
    assert client(fake).upload_offset(REPO, f"{UPLOADS}u1")[1] == 0, "an empty session"
