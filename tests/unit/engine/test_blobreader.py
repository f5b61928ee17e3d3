"""Unit tests for syncer.engine.blobreader: a source blob read once, hashed, resumed with Range."""

from __future__ import annotations

import hashlib

import pytest

from syncer import defaults
from syncer.engine.blobreader import SourceReader
from syncer.errors import CancelledError, DigestMismatchError, TransportError
from tests.support.fakes import (
    BreakingStream,
    FakeTransport,
    Reply,
    client,
    open_registry,
    small_reads,
)
from tests.support.source_blob import DATA, DIGEST, SRC, SRC_BLOB


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTransport:
    small_reads(monkeypatch)
    fake = FakeTransport()
    open_registry(fake, "src.example")
    return fake


def reader(fake: FakeTransport, digest: str = DIGEST) -> SourceReader:
    return SourceReader(client(fake, host="src.example"), SRC, digest)


def test_take_splits_pieces_and_keeps_the_rest_for_the_next_take(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {"Content-Length": "10"}, DATA))
    r = reader(fake)

    assert b"".join(r.take(3)) == DATA[:3]
    assert r.position == 3
    assert b"".join(r.take(None)) == DATA[3:]

    r.verify(len(DATA))
    assert len(fake.requests_to("GET", SRC_BLOB)) == 1


def test_ensure_open_learns_the_length(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {"Content-Length": "10"}, DATA))
    r = reader(fake)
    assert r.length is None
    r.ensure_open()
    assert r.length == 10


def test_a_body_ending_early_is_a_mismatch(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {}, DATA[:6]))
    with pytest.raises(DigestMismatchError):
        b"".join(reader(fake).take(10))


def test_verify_rejects_other_bytes_and_other_sizes(fake: FakeTransport) -> None:
    other = "sha256:" + hashlib.sha256(b"other").hexdigest()
    fake.on("GET", f"https://src.example/v2/team/app/blobs/{other}", Reply(200, {}, DATA))
    wrong = reader(fake, other)
    b"".join(wrong.take(None))
    with pytest.raises(DigestMismatchError):
        wrong.verify(len(DATA))

    fake.on("GET", SRC_BLOB, Reply(200, {}, DATA))
    right = reader(fake)
    b"".join(right.take(None))
    with pytest.raises(DigestMismatchError):
        right.verify(len(DATA) + 1)


def test_stop_cancels_before_the_next_piece(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {}, DATA))
    with pytest.raises(CancelledError):
        b"".join(reader(fake).take(None, stop=lambda: True))


def test_a_source_that_keeps_breaking_gives_up_after_its_reopens(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, lambda _: Reply(200, {}, raw=BreakingStream(b"")))
    with pytest.raises(TransportError):
        b"".join(reader(fake).take(None))
    assert len(fake.requests_to("GET", SRC_BLOB)) == defaults.SOURCE_REOPENS + 1


def test_a_content_length_that_is_no_number_leaves_the_length_unknown(fake: FakeTransport) -> None:
    fake.on("GET", SRC_BLOB, Reply(200, {"Content-Length": "\u00b2"}, DATA))
    r = reader(fake)
    r.ensure_open()
    assert r.length is None
