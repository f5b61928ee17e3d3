"""The fault proxy itself, in front of a real registry: forwarding, records, each fault."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests

from tests.support.faultproxy import FaultProxy
from tests.support.registries import LabRegistry

pytestmark = pytest.mark.integration

BLOB = bytes(range(256)) * 1024  # 256 KiB
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


@pytest.fixture
def proxy(open_registry: LabRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(open_registry.host) as p:
        yield p


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _upload_chunked(session: requests.Session, base: str) -> requests.Response:
    start = session.post(f"{base}/v2/lab/proxy/blobs/uploads/")
    assert start.status_code == 202, start.text
    location = urljoin(start.url, start.headers["Location"])
    # A generator body goes out with Transfer-Encoding: chunked.
    patch = session.patch(
        location, data=_pieces(BLOB, 10_000), headers={"Content-Type": "application/octet-stream"}
    )
    assert patch.status_code == 202, patch.text
    location = urljoin(patch.url, patch.headers["Location"])
    return session.put(location, params={"digest": DIGEST})


def test_forwards_streams_and_records(proxy: FaultProxy) -> None:
    with requests.Session() as session:
        done = _upload_chunked(session, proxy.url)
        assert done.status_code == 201, done.text
        got = session.get(
            f"{proxy.url}/v2/lab/proxy/blobs/{DIGEST}", headers={"Range": "bytes=1000-"}
        )
    assert got.status_code == 206 and got.content == BLOB[1000:]
    post, patch, put, get = proxy.recorded()
    assert (post.method, post.status) == ("POST", 202)
    # Locations are built from our Host header, so they point back at the proxy.
    assert post.response_headers["Location"].startswith(proxy.url)
    assert patch.headers["Transfer-Encoding"] == "chunked" and patch.sent == len(BLOB)
    assert patch.response_headers["Range"] == f"0-{len(BLOB) - 1}"
    assert put.status == 201 and put.query.endswith(f"digest={DIGEST.replace(':', '%3A')}")
    assert get.headers["Range"] == "bytes=1000-" and get.path == f"/v2/lab/proxy/blobs/{DIGEST}"


def test_status_fault_fires_on_the_nth_match_only(proxy: FaultProxy) -> None:
    rule = proxy.fault("GET", r"^/v2/$", nth=2, status=429, headers={"Retry-After": "7"})
    with requests.Session() as session:
        statuses = [session.get(f"{proxy.url}/v2/") for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 429, 200]
    assert statuses[1].headers["Retry-After"] == "7"
    assert rule.fired == 1 and rule.seen == 3
    assert [r.fault for r in proxy.recorded("GET")] == ["", "status=429", ""]


def test_resets_and_truncation_break_the_connection(proxy: FaultProxy) -> None:
    with requests.Session() as session:
        assert _upload_chunked(session, proxy.url).status_code == 201
        url = f"{proxy.url}/v2/lab/proxy/blobs/{DIGEST}"
        proxy.fault("GET", "/blobs/sha256:", reset=True)
        with pytest.raises(requests.ConnectionError):
            session.get(url)
        for action in ({"reset_response_after": 5000}, {"truncate_after": 5000}):
            proxy.fault("GET", "/blobs/sha256:", **action)
            broken = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
            with pytest.raises(broken):
                session.get(url).content  # noqa: B018
        assert session.get(url).content == BLOB


def test_reset_mid_request_body(proxy: FaultProxy) -> None:
    proxy.fault("PATCH", "/blobs/uploads/", reset_request_after=100_000)
    with requests.Session() as session:
        start = session.post(f"{proxy.url}/v2/lab/proxy/blobs/uploads/")
        location = urljoin(start.url, start.headers["Location"])
        with pytest.raises(requests.ConnectionError):
            session.patch(
                location, data=BLOB * 8, headers={"Content-Type": "application/octet-stream"}
            )
    (patch,) = proxy.recorded("PATCH")
    assert patch.fault == "reset_request_after=100000" and patch.sent >= 100_000


def test_stall_delays_then_forwards(proxy: FaultProxy) -> None:
    proxy.fault("GET", r"^/v2/$", stall=0.3)
    began = time.monotonic()
    with requests.get(f"{proxy.url}/v2/", timeout=10) as resp:
        assert resp.status_code == 200
    assert time.monotonic() - began >= 0.3
