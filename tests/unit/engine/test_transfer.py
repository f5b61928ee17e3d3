"""Blob transfer over a fake transport: held-back final chunk, short and rangeless sources."""

from __future__ import annotations

import hashlib

import pytest

from syncer.engine.blobreader import SourceReader
from syncer.engine.transfer import BlobCopier
from syncer.errors import DigestMismatchError, HTTPError
from syncer.oci import mediatypes
from syncer.oci.manifest import Descriptor
from syncer.oci.reference import Repository
from syncer.registry import deadline
from tests.support.fakes import (
    BreakingStream,
    FakeTransport,
    Reply,
    Seen,
    client,
    open_registry,
    replies,
    small_reads,
)
from tests.support.source_blob import DATA, DIGEST, SRC, SRC_BLOB

DST = Repository.parse("dst.example/mirror/app")
DST_BLOB = f"https://dst.example/v2/mirror/app/blobs/{DIGEST}"
UPLOADS = "https://dst.example/v2/mirror/app/blobs/uploads/"
SESSION = UPLOADS + "u1"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTransport:
    # Small source reads, so "the final chunk" is one of several; no real sleeping.
    small_reads(monkeypatch)
    fake = FakeTransport()
    open_registry(fake, "src.example")
    open_registry(fake, "dst.example")
    fake.on("HEAD", DST_BLOB, Reply(404))
    fake.on("POST", UPLOADS, Reply(202, {"Location": "/v2/mirror/app/blobs/uploads/u1?_state=s"}))
    fake.on("PUT", SESSION, Reply(201))
    fake.on("DELETE", SESSION, Reply(204))
    return fake


def copier(fake: FakeTransport, **kwargs: int) -> BlobCopier:
    return BlobCopier(client(fake, host="src.example"), client(fake, host="dst.example"), **kwargs)


def layer(size: int = len(DATA)) -> Descriptor:
    return Descriptor(mediatypes.OCI_LAYER, DIGEST, size)


def test_monolithic_copy_streams_exact_bytes(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {"Content-Length": "10"}, DATA))
    counted: list[int] = []
    c = BlobCopier(
        client(fake, host="src.example"), client(fake, host="dst.example"), on_bytes=counted.append
    )

    assert c.copy(SRC, DST, layer()) == "copied"

    (put,) = fake.requests_to("PUT", SESSION)
    assert put.body == DATA and put.headers["Content-Length"] == "10"
    assert put.query == {"_state": ["s"], "digest": [DIGEST]}
    assert counted == [4, 4, 2] and fake.requests_to("DELETE", SESSION) == []


def test_corrupt_source_never_completes_the_upload(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {}, b"01234567XY"))

    with pytest.raises(DigestMismatchError) as info:
        copier(fake).copy(SRC, DST, layer())

    assert info.value.expected == DIGEST
    (put,) = fake.requests_to("PUT", SESSION)
    assert not put.complete and put.body == b"01234567"  # the final piece was held back
    assert len(fake.requests_to("DELETE", SESSION)) == 1
    assert len(fake.requests_to("POST", UPLOADS)) == 1  # a digest mismatch is not retried


def test_source_that_ends_early_is_a_digest_mismatch(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {}, DATA[:6]))

    with pytest.raises(DigestMismatchError, match="end of data at byte 6"):
        copier(fake).copy(SRC, DST, layer())

    (put,) = fake.requests_to("PUT", SESSION)
    assert not put.complete and len(put.body) < 6
    assert len(fake.requests_to("DELETE", SESSION)) == 1


def test_source_longer_than_descriptor_is_a_mismatch(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {}, DATA + b"extra"))
    with pytest.raises(DigestMismatchError):
        copier(fake).copy(SRC, DST, layer(size=len(DATA) + 5))
    assert not fake.requests_to("PUT", SESSION)[0].complete


def test_reader_skips_forward_when_range_is_ignored(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {"Content-Length": "10"}, DATA))
    reader = SourceReader(client(fake, host="src.example"), SRC, DIGEST)
    reader.rewind(4, hashlib.sha256(DATA[:4]))

    assert b"".join(reader.take(None)) == DATA[4:]

    reader.verify(len(DATA))
    assert fake.requests_to("GET", SRC_BLOB)[0].headers["Range"] == "bytes=4-"


@pytest.mark.parametrize("honours_range", [True, False])
def test_broken_source_resumes_with_range(fake: FakeTransport, honours_range: bool) -> None:
    def source(seen: Seen) -> Reply:
        rng = seen.headers.get("Range")
        if rng is None:
            return Reply(200, {"Content-Length": "10"}, raw=BreakingStream(DATA[:6]))
        assert rng == "bytes=6-"  # resume right after the last byte that arrived
        return Reply(206, {}, DATA[6:]) if honours_range else Reply(200, {}, DATA)

    fake.on("GET", SRC_BLOB, source)

    assert copier(fake).copy(SRC, DST, layer()) == "copied"

    assert fake.requests_to("PUT", SESSION)[0].body == DATA
    assert len(fake.requests_to("GET", SRC_BLOB)) == 2


def test_unknown_size_uses_source_content_length(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {"Content-Length": "10"}, DATA))
    assert copier(fake).copy(SRC, DST, layer(size=-1)) == "copied"
    (put,) = fake.requests_to("PUT", SESSION)
    assert put.body == DATA and put.headers["Content-Length"] == "10"


def test_unknown_size_without_content_length_streams_chunked(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {}, DATA))  # chunked source: no length anywhere
    assert copier(fake).copy(SRC, DST, layer(size=-1)) == "copied"
    (put,) = fake.requests_to("PUT", SESSION)
    # A SizedBody of length 0 is falsy: requests sent "Content-Length: 0" and no body.
    assert put.body == DATA and put.complete
    assert put.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in put.headers


def test_unknown_size_corrupt_source_never_completes_the_upload(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {}, b"01234567XY"))
    with pytest.raises(DigestMismatchError):
        copier(fake).copy(SRC, DST, layer(size=-1))
    (put,) = fake.requests_to("PUT", SESSION)
    assert not put.complete and put.body == b"01234567"  # the final piece was held back
    assert len(fake.requests_to("DELETE", SESSION)) == 1


@pytest.mark.parametrize("served", [DATA, b"01234567XY"], ids=["right", "wrong"])
def test_a_sha512_blob_is_verified_in_sha512(fake: FakeTransport, served: bytes) -> None:
    digest = "sha512:" + hashlib.sha512(DATA).hexdigest()
    fake.on("HEAD", f"https://dst.example/v2/mirror/app/blobs/{digest}", Reply(404))
    fake.on("GET", f"https://src.example/v2/team/app/blobs/{digest}", Reply(200, {}, served))
    desc = Descriptor(mediatypes.OCI_LAYER, digest, len(DATA))
    if served != DATA:
        with pytest.raises(DigestMismatchError) as info:
            copier(fake).copy(SRC, DST, desc)
        assert info.value.actual == "sha512:" + hashlib.sha512(served).hexdigest()
        assert not fake.requests_to("PUT", SESSION)[0].complete
        return
    assert copier(fake).copy(SRC, DST, desc) == "copied"
    (put,) = fake.requests_to("PUT", SESSION)
    assert put.complete and put.body == DATA and put.query["digest"] == [digest]


def test_existing_blob_is_not_copied(fake: FakeTransport) -> None:
    fake.on("HEAD", DST_BLOB, Reply(200))
    assert copier(fake).copy(SRC, DST, layer()) == "exists"
    assert fake.requests_to("POST", UPLOADS) == []


def test_refused_mount_falls_back_to_upload(fake: FakeTransport) -> None:
    other = Repository.parse("dst.example/mirror/base")
    fake.on(
        "POST",
        UPLOADS,
        replies(Reply(403), Reply(202, {"Location": "/v2/mirror/app/blobs/uploads/u1"})),
    )
    fake.on("GET", SRC_BLOB, Reply(200, {}, DATA))

    assert copier(fake).copy(SRC, DST, layer(), mount_from=[DST, other]) == "copied"

    mounts = [s.query for s in fake.requests_to("POST", UPLOADS) if s.query]
    assert mounts == [{"mount": [DIGEST], "from": ["mirror/base"]}]


def test_mounted_blob_is_not_uploaded(fake: FakeTransport) -> None:
    fake.on("POST", UPLOADS, Reply(201))
    other = Repository.parse("dst.example/mirror/base")
    assert copier(fake).copy(SRC, DST, layer(), mount_from=[other]) == "mounted"
    assert fake.requests_to("GET", SRC_BLOB) == []


class ChunkedDestination:
    """An upload session that accepts PATCHes in order; the second one breaks after 2 bytes."""

    def __init__(self) -> None:
        self.held = bytearray()
        self.patches = 0

    def patch(self, seen: Seen) -> Reply:
        self.patches += 1
        start = int(seen.headers["Content-Range"].split("-")[0])
        if start != len(self.held):
            return Reply(416)
        if self.patches == 2:
            self.held += seen.body[:2]
            return Reply(503)
        self.held += seen.body
        return Reply(202, {"Location": SESSION})

    def status(self, _: Seen) -> Reply:
        return Reply(204, {"Range": f"0-{len(self.held) - 1}", "Location": SESSION})

    def put(self, seen: Seen) -> Reply:
        held = "sha256:" + hashlib.sha256(self.held).hexdigest()
        ok = seen.query["digest"] == [DIGEST] == [held]
        return Reply(201 if ok and not seen.body else 400)


def test_chunked_upload_resumes_where_the_session_stopped(fake: FakeTransport) -> None:
    dst = ChunkedDestination()
    fake.on("PATCH", SESSION, dst.patch)
    fake.on("GET", SESSION, dst.status)
    fake.on("PUT", SESSION, dst.put)
    fake.on("GET", SRC_BLOB, lambda seen: Reply(200, {}, DATA))  # ignores Range too

    assert copier(fake, chunked_threshold=8, upload_chunk=4).copy(SRC, DST, layer()) == "copied"

    assert bytes(dst.held) == DATA
    ranges = [s.headers["Content-Range"] for s in fake.requests_to("PATCH", SESSION)]
    assert ranges == ["0-3", "4-7", "6-9"]
    assert fake.requests_to("GET", SRC_BLOB)[-1].headers["Range"] == "bytes=4-"


def test_chunked_upload_gives_up_on_permanent_error(fake: FakeTransport) -> None:
    fake.on("PATCH", SESSION, Reply(400))
    fake.on("GET", SRC_BLOB, Reply(200, {}, DATA))
    with pytest.raises(HTTPError) as info:
        copier(fake, chunked_threshold=8, upload_chunk=4).copy(SRC, DST, layer())
    assert info.value.status == 400
    assert len(fake.requests_to("PATCH", SESSION)) == 1
    assert len(fake.requests_to("DELETE", SESSION)) == 1


def test_bytes_of_a_failed_attempt_are_taken_back(
    fake: FakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deadline, "sleep", lambda _: None)
    fake.on("GET", SRC_BLOB, Reply(200, {"Content-Length": "10"}, DATA))
    fake.on("PUT", SESSION, replies(Reply(503), Reply(201)))
    counted: list[int] = []
    c = BlobCopier(
        client(fake, host="src.example"), client(fake, host="dst.example"), on_bytes=counted.append
    )

    assert c.copy(SRC, DST, layer()) == "copied"

    assert len(fake.requests_to("PUT", SESSION)) == 2, "the first attempt failed, the retry landed"
    assert sum(counted) == len(DATA), counted
    assert -len(DATA) in counted, "the failed attempt's bytes were taken back"
