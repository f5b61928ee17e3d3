"""The requests boundary: status to error class, Retry-After, sanitised messages, exceptions."""

from __future__ import annotations

import email.utils
import json
from types import SimpleNamespace

import pytest
import requests

from syncer.errors import (
    AuthError,
    HTTPError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TLSError,
    TLSHandshakeError,
    TransportError,
    is_transient,
)
from syncer.registry import replies, transport
from tests.support.fakes import (
    BASE,
    BreakingStream,
    FakeTransport,
    Reply,
    json_reply,
    mounted,
    raises,
)

UPLOAD = f"{BASE}/v2/team/app/blobs/uploads/abc"
SECRET_URL = UPLOAD + "?_state=secret-state&digest=sha256:x"


def answer(
    reply: Reply, method: str = "GET", url: str = SECRET_URL, stream: bool = False
) -> requests.Response:
    fake = FakeTransport()
    fake.on(method, url.split("?")[0], reply)
    return transport.send(mounted(fake), method, url, stream=stream)


def error_for(reply: Reply, method: str = "GET", url: str = SECRET_URL) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        replies.check(answer(reply, method, url), "upload status")
    return info.value


def test_success_passes_through() -> None:
    resp = answer(Reply(202))
    assert replies.check(resp, "x") is resp


@pytest.mark.parametrize(
    ("status", "cls", "transient"),
    [
        (400, HTTPError, False),
        (401, AuthError, False),
        (403, AuthError, False),
        (404, NotFoundError, False),
        (429, RateLimitedError, True),
        (500, ServerError, True),
        (503, ServerError, True),
    ],
)
def test_status_maps_to_error_class(status: int, cls: type[HTTPError], transient: bool) -> None:
    err = error_for(Reply(status))
    assert type(err) is cls and err.status == status and err.method == "GET"
    assert is_transient(err) is transient


def test_errors_payload_gives_codes_and_message() -> None:
    body = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {}}]}
    err = error_for(json_reply(body, 404))
    assert isinstance(err, NotFoundError)
    assert err.codes == ["MANIFEST_UNKNOWN"]
    assert str(err) == "upload status: HTTP 404 MANIFEST_UNKNOWN: manifest unknown"


def test_head_errors_have_no_body_detail() -> None:
    err = error_for(Reply(404, {}, b"ignored"), method="HEAD")
    assert str(err) == "upload status: HTTP 404" and err.errors == []


def test_retry_after_seconds() -> None:
    err = error_for(Reply(429, {"Retry-After": " 3 "}))
    assert isinstance(err, RateLimitedError) and err.retry_after == 3.0


def test_retry_after_http_date(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_700_000_000.0
    monkeypatch.setattr(replies, "time", SimpleNamespace(time=lambda: now))
    date = email.utils.formatdate(now + 120, usegmt=True)
    assert error_for(Reply(503, {"Retry-After": date})).retry_after == 120.0
    past = email.utils.formatdate(now - 120, usegmt=True)
    assert error_for(Reply(429, {"Retry-After": past})).retry_after == 0.0


@pytest.mark.parametrize("value", ["soon", "-1", "1.5x", ""])
def test_unparseable_retry_after_is_none(value: str) -> None:
    assert error_for(Reply(429, {"Retry-After": value})).retry_after is None


def test_long_unprintable_body_is_clipped_and_sanitised() -> None:
    body = b"\x1b[31m<html>\r\n" + b"A" * 5000 + b"\x00\x07</html>"
    msg = str(error_for(Reply(502, {}, body)))
    assert msg.startswith("upload status: HTTP 502 \\x1b[31m<html> AAA")
    assert msg.endswith("…") and len(msg) < 400
    assert all(ch.isprintable() for ch in msg)


def test_long_error_messages_are_clipped() -> None:
    body = {"errors": [{"code": "DENIED", "message": "\x1b" + "m" * 4000}]}
    err = error_for(json_reply(body, 403))
    assert len(str(err)) < 400 and "\x1b" not in str(err)
    assert err.errors[0]["message"].startswith("\\x1bmmm")


def test_long_unprintable_error_code_is_clipped() -> None:
    body = {"errors": [{"code": "\x1b[2J" + "C" * 4000, "message": "m"}]}
    msg = str(error_for(json_reply(body, 400)))
    assert len(msg) < 700 and all(ch.isprintable() for ch in msg)


def test_query_strings_never_reach_errors() -> None:
    err = error_for(json_reply({"errors": [{"code": "BLOB_UPLOAD_INVALID"}]}, 400))
    assert err.url == UPLOAD
    assert "secret-state" not in f"{err} {err.url}"


def test_redirect_target_query_is_stripped() -> None:
    fake = FakeTransport()
    signed = "https://cdn.example/blob?X-Amz-Signature=presigned"
    fake.on("GET", UPLOAD, Reply(307, {"Location": signed}))
    fake.on("GET", "https://cdn.example/blob", Reply(403, {}, b"<Error>AccessDenied</Error>"))
    with pytest.raises(AuthError) as info:
        replies.check(transport.send(mounted(fake), "GET", UPLOAD), "GET blob")
    assert info.value.url == "https://cdn.example/blob"
    assert "presigned" not in str(info.value)


POOL_MSG = (
    "HTTPSConnectionPool(host='reg.example', port=443): Max retries exceeded with url: "
    "/v2/team/app/blobs/uploads/abc?_state=secret-state (Caused by "
    "NewConnectionError('Failed to establish a new connection: [Errno 111] refused'))"
)


@pytest.mark.parametrize(
    ("exc", "cls", "text"),
    [
        (requests.exceptions.ConnectionError(POOL_MSG), TransportError, "refused"),
        (requests.exceptions.ReadTimeout(POOL_MSG), TransportError, "timed out"),
        (requests.exceptions.ConnectTimeout(POOL_MSG), TransportError, "timed out"),
        (requests.exceptions.SSLError(POOL_MSG), TLSHandshakeError, "TLS error"),
        (
            requests.exceptions.SSLError(
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
            ),
            TLSError,
            "TLS error",
        ),
        (requests.exceptions.ChunkedEncodingError("broken"), TransportError, "broken"),
    ],
)
def test_requests_exceptions_are_translated(
    exc: requests.exceptions.RequestException, cls: type[Exception], text: str
) -> None:
    fake = FakeTransport()
    fake.on("PUT", UPLOAD, raises(exc))
    with pytest.raises(cls) as info:
        transport.send(mounted(fake), "PUT", SECRET_URL)
    assert type(info.value) is cls
    assert info.value.__cause__ is exc
    assert text in str(info.value) and str(info.value).startswith(f"PUT {UPLOAD}")
    assert "secret-state" not in str(info.value) and "Pool" not in str(info.value)


def test_send_sets_a_default_timeout() -> None:
    seen: list[object] = []

    class Spy(FakeTransport):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def,override]
            seen.append(kwargs["timeout"])
            return super().send(request, **kwargs)

    fake = Spy()
    fake.on("GET", UPLOAD, Reply(200))
    transport.send(mounted(fake), "GET", UPLOAD)
    assert seen == [transport.defaults.TIMEOUT]


def test_body_broken_midway_is_transport_error() -> None:
    resp = answer(Reply(200, raw=BreakingStream(b"abcdef")), url=UPLOAD, stream=True)
    pieces = transport.iter_body(resp, 4)
    assert next(pieces) == b"abcd"
    with pytest.raises(TransportError) as info:
        list(pieces)
    assert isinstance(info.value.__cause__, OSError)


def test_new_session_never_sends_cookies_back() -> None:
    fake = FakeTransport()
    fake.on("GET", f"{BASE}/v2/", Reply(200, {"Set-Cookie": "_gorilla_csrf=abc; Path=/"}))
    fake.on("PUT", UPLOAD, Reply(201))
    session = mounted(fake, transport.new_session())

    transport.send(session, "GET", f"{BASE}/v2/")
    transport.send(session, "PUT", UPLOAD, data=b"x")

    assert "Cookie" not in fake.requests_to("PUT", UPLOAD)[0].headers
    assert len(session.cookies) == 0


def test_plain_session_would_send_cookies_back() -> None:
    # Guards the test above: the fake transport does deliver Set-Cookie to requests.
    fake = FakeTransport()
    fake.on("GET", f"{BASE}/v2/", Reply(200, {"Set-Cookie": "_gorilla_csrf=abc; Path=/"}))
    fake.on("PUT", UPLOAD, Reply(201))
    session = mounted(fake)

    transport.send(session, "GET", f"{BASE}/v2/")
    transport.send(session, "PUT", UPLOAD, data=b"x")

    assert fake.requests_to("PUT", UPLOAD)[0].headers["Cookie"] == "_gorilla_csrf=abc"


def test_new_session_does_not_retry_and_says_who_it_is() -> None:
    session = transport.new_session(pool_size=16)
    adapter = session.get_adapter("https://reg.example/")
    assert adapter.max_retries.total == 0  # type: ignore[attr-defined]
    assert adapter._pool_maxsize == 16  # type: ignore[attr-defined]
    assert session.headers["User-Agent"].startswith("syncer/")


def test_json_payload_that_is_not_an_error_list_is_ignored() -> None:
    err = error_for(Reply(400, {}, json.dumps({"errors": "nope"}).encode()))
    assert err.errors == [] and "nope" in str(err)


def test_new_session_drops_cookies_set_on_a_redirect() -> None:
    fake = FakeTransport()
    fake.on(
        "GET",
        UPLOAD,
        Reply(
            307,
            {
                "Location": "/v2/team/app/blobs/uploads/def",
                "Set-Cookie": "_gorilla_csrf=abc; Path=/",
            },
        ),
    )
    fake.on("GET", f"{BASE}/v2/team/app/blobs/uploads/def", Reply(204))

    transport.send(mounted(fake, transport.new_session()), "GET", UPLOAD)

    assert "Cookie" not in fake.seen[-1].headers


def test_loopback_requests_never_go_through_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Go's http.ProxyFromEnvironment skips loopback, whatever HTTP_PROXY says (image-syncer)."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = transport.new_session()
    assert session.trust_env

    def proxies(url: str) -> object:
        return session.merge_environment_settings(url, {}, False, True, None)["proxies"]

    assert proxies("http://127.0.0.1:5000/v2/") == {}
    assert proxies("https://localhost/v2/") == {}
    assert proxies("https://reg.example/v2/")["https"] == "http://proxy.example:3128"
    redirect = requests.Request("GET", "http://127.0.0.1:9000/blob").prepare()
    assert session.rebuild_proxies(redirect, {}) == {}
    away = requests.Request("GET", "http://cdn.example/blob").prepare()
    assert session.rebuild_proxies(away, {})["http"] == "http://proxy.example:3128"
