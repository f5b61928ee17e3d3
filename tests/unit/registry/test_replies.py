"""A registry's error answers read into the error tree (syncer.registry.replies), faked."""

from __future__ import annotations

import email.utils
import json
import time

import pytest
import requests

from syncer.errors import (
    AuthError,
    HTTPError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from syncer.registry.replies import check, refuse_redirect, retry_after
from tests.support.fakes import BASE, FakeTransport, Reply, json_reply, mounted

MANIFEST = f"{BASE}/v2/team/app/manifests/v1"
BLOB = f"{BASE}/v2/team/app/blobs/sha256:{'a' * 64}"


def _answer(reply: Reply, method: str = "GET", url: str = MANIFEST) -> requests.Response:
    transport = FakeTransport()
    transport.on(method, url, reply)
    return mounted(transport).request(
        method, url + "?_state=secret", stream=True, allow_redirects=False
    )


def test_a_success_is_handed_back_untouched() -> None:
    resp = _answer(Reply(200, body=b"{}"))
    assert check(resp, "GET manifest") is resp


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, AuthError), (403, AuthError), (404, NotFoundError), (429, RateLimitedError)]
    + [(500, ServerError), (503, ServerError), (400, HTTPError)],
)
def test_each_status_becomes_its_error_class(status: int, cls: type[HTTPError]) -> None:
    doc = {"errors": [{"code": "SOME_CODE", "message": "said so", "detail": {}}]}
    with pytest.raises(HTTPError) as info:
        check(_answer(json_reply(doc, status)), "GET manifest")
    assert type(info.value) is cls
    assert str(info.value) == f"GET manifest: HTTP {status} SOME_CODE: said so"
    assert info.value.status == status and info.value.method == "GET"
    assert info.value.url == MANIFEST, "the query string is never kept"
    assert info.value.codes == ["SOME_CODE"]


def test_a_head_without_a_body_gets_the_code_its_status_implies() -> None:
    with pytest.raises(NotFoundError) as info:
        check(_answer(Reply(404), "HEAD", BLOB), "HEAD blob")
    assert info.value.codes == ["BLOB_UNKNOWN"]
    with pytest.raises(NotFoundError) as info:
        check(_answer(Reply(404), "HEAD"), "HEAD manifest")
    assert info.value.codes == ["MANIFEST_UNKNOWN"]


def test_only_five_errors_are_kept_and_server_text_is_made_printable() -> None:
    errors = [{"code": f"C{i}", "message": "bad\x1b[2J"} for i in range(9)]
    with pytest.raises(HTTPError) as info:
        check(_answer(json_reply({"errors": errors}, 400)), "PUT manifest")
    assert info.value.codes == ["C0", "C1", "C2", "C3", "C4"]
    assert "\x1b" not in str(info.value) and "bad\\x1b[2J" in str(info.value)


def test_a_body_that_is_not_the_spec_payload_is_shown_folded_and_clipped() -> None:
    body = ("<html>\n  proxy   error\n" + "x" * 1000).encode()
    with pytest.raises(ServerError) as info:
        check(_answer(Reply(502, body=body)), "GET manifest")
    text = str(info.value)
    assert text.startswith("GET manifest: HTTP 502 <html> proxy error xxx")
    assert text.endswith("…") and len(text) < 400
    assert info.value.errors == []


def test_retry_after_reads_seconds_or_an_http_date() -> None:
    assert retry_after(_answer(Reply(429, {"Retry-After": "7"}))) == 7.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after(_answer(Reply(429, {"Retry-After": later}))) or 0) <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after(_answer(Reply(429, {"Retry-After": past}))) == 0.0
    assert retry_after(_answer(Reply(429, {"Retry-After": "soon"}))) is None
    assert retry_after(_answer(Reply(429))) is None


def test_a_429_keeps_the_wait_it_was_asked_for() -> None:
    reply = json_reply({"errors": [{"code": "TOOMANYREQUESTS"}]}, 429, **{"Retry-After": "12"})
    with pytest.raises(RateLimitedError) as info:
        check(_answer(reply), "GET manifest")
    assert info.value.retry_after == 12.0


def test_a_redirect_not_followed_is_a_permanent_error_naming_only_the_host() -> None:
    reply = Reply(307, {"Location": "https://user:pw@cdn.example/blob?sig=secret"})
    with pytest.raises(NotFoundError) as info:
        refuse_redirect(_answer(reply, url=BLOB), "GET blob", NotFoundError)
    assert str(info.value) == "GET blob: HTTP 307 redirect to cdn.example not followed"
    assert "secret" not in info.value.url and "pw" not in str(info.value)
    ok = _answer(Reply(200), url=BLOB)
    assert refuse_redirect(ok, "GET blob") is ok


def test_an_error_body_is_read_once_and_kept_for_later_readers() -> None:
    doc = {"errors": [{"code": "DENIED", "message": "no"}]}
    resp = _answer(json_reply(doc, 403))
    with pytest.raises(AuthError):
        check(resp, "GET manifest")
    assert json.loads(resp.content) == doc


def test_an_error_body_nested_past_the_recursion_limit_is_shown_not_crashed_on() -> None:
    with pytest.raises(ServerError, match="HTTP 500"):
        check(_answer(Reply(500, body=b"[" * 5000 + b"]" * 5000)), "GET manifest")


@pytest.mark.parametrize("value", ["\u00b3", "9" * 5000, "-5", "soon"])
def test_a_retry_after_that_is_no_number_or_date_is_ignored(value: str) -> None:
    assert retry_after(_answer(Reply(429, {"Retry-After": value}))) is None
