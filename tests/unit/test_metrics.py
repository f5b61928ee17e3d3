"""The recorder interface and its hooks: labels stay bounded, every hook reports what happened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from syncer import metrics
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.copypath import copy_and_record
from syncer.engine.transfer import BlobCopier
from syncer.errors import RateLimitedError, ServerError
from syncer.registry import deadline
from syncer.registry.connection import RegistryConnection
from syncer.registry.retry import retrying
from tests.support import copypath
from tests.support.fakes import HOST, FakeTransport, Reply, client, mounted, open_registry, replies
from tests.unit.engine.test_transfer import DATA as BLOB
from tests.unit.engine.test_transfer import (
    DST,
    SESSION,
    SRC,
    SRC_BLOB,
    ChunkedDestination,
    copier,
    fake,  # noqa: F401 - the fixture, used by name
    layer,
)


class Tally:
    """A recorder that keeps every call, and how many transfers are open."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.open = self.most_open = 0

    def bytes_copied(self, source: str, dest: str, n: int) -> None:
        self.calls.append(("bytes", source, dest, n))

    def streamed(self, n: int) -> None:
        self.calls.append(("streamed", n))

    def blob(self, source: str, dest: str, outcome: str) -> None:
        self.calls.append(("blob", source, dest, outcome))

    def image(self, result: str, code: str) -> None:
        self.calls.append(("image", result, code))

    def rate_limited(self, registry: str) -> None:
        self.calls.append(("429", registry))

    def backoff(self, registry: str, reason: str) -> None:
        self.calls.append(("backoff", registry, reason))

    def upload_resumed(self, registry: str) -> None:
        self.calls.append(("resumed", registry))

    def transfer(self) -> AbstractContextManager[None]:
        return self._open()

    @contextmanager
    def _open(self) -> Iterator[None]:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            yield
        finally:
            self.open -= 1

    def of(self, kind: str) -> list[tuple[object, ...]]:
        return [c for c in self.calls if c[0] == kind]


@pytest.fixture
def tally() -> Iterator[Tally]:
    old = metrics.install(Tally())
    try:
        current = metrics.recorder()
        assert isinstance(current, Tally)
        yield current
    finally:
        metrics.install(old)


def test_the_default_recorder_counts_nothing_and_install_swaps_it() -> None:
    default = metrics.recorder()
    assert isinstance(default, metrics.NoRecorder)
    with default.transfer():
        default.blob("a", "b", "copied")
    mine = Tally()
    assert metrics.install(mine) is default
    assert metrics.install(default) is mine


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("GET manifest x: HTTP 404 MANIFEST_UNKNOWN: manifest unknown", "MANIFEST_UNKNOWN"),
        ("PUT blob: HTTP 401 UNAUTHORIZED: authentication required", "UNAUTHORIZED"),
        ("HEAD x: HTTP 503", "HTTP_503"),
        ("digest mismatch: wanted sha256:aa", "other"),
        ("NOT_A_SPEC_CODE in text from a hostile registry", "other"),
        ("", "other"),
    ],
)
def test_failure_codes_come_from_a_fixed_set(reason: str, code: str) -> None:
    assert metrics.failure_code(reason) == code


def test_image_results_tell_unchanged_from_other_skips() -> None:
    assert metrics.image_result("skipped", "unchanged") == "unchanged"
    assert metrics.image_result("skipped", "no manifest matches the platform filter") == "skipped"
    assert metrics.image_result("synced", "") == "synced"
    assert metrics.image_result("failed", "boom") == "failed"


def test_registry_labels_are_hosts_without_user_info() -> None:
    assert (
        metrics.host_of("https://user:s3cret@Reg.Example:5000/v2/x?token=t") == "reg.example:5000"
    )
    assert metrics.host_of("") == "unknown"
    assert metrics.registry_of(ServerError("x", status=503, url="http://r.example/v2/")) == (
        "r.example"
    )
    assert metrics.registry_of(ValueError("no url")) == "unknown"


def test_a_chunked_copy_counts_the_bytes_that_landed_and_the_resume(
    fake: FakeTransport,  # noqa: F811
    tally: Tally,
) -> None:
    dst = ChunkedDestination()
    fake.on("PATCH", SESSION, dst.patch)
    fake.on("GET", SESSION, dst.status)
    fake.on("PUT", SESSION, dst.put)
    fake.on("GET", SRC_BLOB, lambda seen: Reply(200, {}, BLOB))
    moved: list[int] = []

    c = copier(fake, chunked_threshold=8, upload_chunk=4)
    c.on_bytes = moved.append
    assert c.copy(SRC, DST, layer()) == "copied"

    landed = [c[3] for c in tally.of("bytes")]
    # As the plan's own byte counter: the 2 bytes the registry kept from the broken
    # PATCH were never counted by either (the resume sends the rest).
    assert sum(landed) == sum(moved) == len(BLOB) - 2, (landed, moved)
    assert all(c[1:3] == (SRC.registry, DST.registry) for c in tally.of("bytes"))
    assert tally.of("resumed") == [("resumed", DST.registry)]
    assert sum(c[1] for c in tally.of("streamed")) > len(BLOB), "the broken chunk went out too"
    assert tally.most_open == 1 and tally.open == 0


def test_a_failed_monolithic_attempt_counts_no_bytes(
    fake: FakeTransport,  # noqa: F811
    tally: Tally,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deadline, "sleep", lambda _: None)
    fake.on("GET", SRC_BLOB, Reply(200, {"Content-Length": "10"}, BLOB))
    fake.on("PUT", SESSION, replies(Reply(503), Reply(201)))
    c = BlobCopier(client(fake, host="src.example"), client(fake, host="dst.example"))

    assert c.copy(SRC, DST, layer()) == "copied"

    assert tally.of("bytes") == [("bytes", SRC.registry, DST.registry, len(BLOB))]
    assert ("backoff", "dst.example", "retry") in tally.calls


def test_copy_and_record_counts_the_blob_by_outcome(tally: Tally) -> None:
    desc = copypath.layer(copypath.PRESENT)
    copy_and_record(
        copypath.FakeCopier("mounted"), MemoryBlobCache(), copypath.SRC, copypath.DST, desc
    )
    assert tally.of("blob") == [("blob", copypath.SRC.registry, copypath.DST.registry, "mounted")]


def test_a_429_counts_as_rate_limited_and_a_backoff(tally: Tally) -> None:
    transport = FakeTransport()
    open_registry(transport)
    transport.on("GET", f"https://{HOST}/v2/x", Reply(429, {"Retry-After": "1"}))
    conn = RegistryConnection(HOST, session=mounted(transport))
    with pytest.raises(RateLimitedError):
        conn.request("GET", "/v2/x", (), what="x")
    assert tally.of("429") == [("429", HOST)]
    assert tally.of("backoff") == [("backoff", HOST, "throttle")]


def test_each_retry_counts_a_backoff_for_the_registry_that_failed(tally: Tally) -> None:
    errors = [ServerError("x", status=503, url="https://r.example/v2/a")] * 2

    def flaky() -> str:
        if errors:
            raise errors.pop()
        return "ok"

    assert retrying(flaky, what="x", sleep=lambda _: None) == "ok"
    assert tally.of("backoff") == [("backoff", "r.example", "retry")] * 2
