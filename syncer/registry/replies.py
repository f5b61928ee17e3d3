"""A registry's error answers, read into syncer's error tree.

:func:`check` turns an error status into the matching :class:`HTTPError`,
with the spec's ``errors[]`` codes (read from at most
:data:`defaults.MAX_ERROR_BODY` bytes, once) or the code the status implies;
:func:`refuse_redirect` makes a redirect we chose not to follow permanent;
:func:`retry_after` reads ``Retry-After``. Server text reaches messages
clipped and escaped (:func:`syncer.text.shown`).
"""

from __future__ import annotations

import email.utils
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from syncer import defaults, untrusted
from syncer.errors import (
    AuthError,
    HTTPError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from syncer.registry.transport import drain
from syncer.registry.urls import shown_host, strip_query
from syncer.text import shown

#: Bytes of a non-JSON error body decoded for a message: twice what a message
#: shows, so folding runs of whitespace still leaves a full line of context.
_BODY_SHOWN = 600


def check(resp: requests.Response, what: str) -> requests.Response:
    """Return ``resp`` if it succeeded, else raise the matching :class:`HTTPError`.

    An error body is read once, at most :data:`defaults.MAX_ERROR_BODY` bytes.
    """
    if resp.status_code < 400:
        return resp
    body = drain(resp)
    errors = _errors_payload(resp, body) or _implied_errors(resp, body)
    detail = "; ".join(
        f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors
    ) or _sanitised_body(resp, body)
    status = resp.status_code
    message = f"{what}: HTTP {status}" + (f" {detail}" if detail else "")
    cls: type[HTTPError] = HTTPError
    if status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitedError
    elif status >= 500:
        cls = ServerError
    raise cls(
        message,
        status=status,
        method=resp.request.method or "",
        url=strip_query(resp.url),
        errors=errors,
        retry_after=retry_after(resp),
    )


def refuse_redirect(
    resp: requests.Response, what: str, error: type[HTTPError] = HTTPError
) -> requests.Response:
    """Return ``resp`` unless it is a redirect we chose not to follow: that is permanent."""
    if not 300 <= resp.status_code < 400:
        return resp
    resp.close()
    target = urljoin(resp.url, resp.headers.get("Location", ""))
    raise error(
        f"{what}: HTTP {resp.status_code} redirect to {shown_host(target)} not followed",
        status=resp.status_code,
        method=resp.request.method or "",
        url=strip_query(resp.url),
    )


def _implied_errors(resp: requests.Response, body: bytes) -> list[dict[str, Any]]:
    """The spec's error code for a status that came without a body (HEAD, some proxies)."""
    status, path = resp.status_code, urlsplit(resp.url).path
    code = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"}.get(status)
    if status == 404:
        if "/manifests/" in path:
            code = "MANIFEST_UNKNOWN"
        elif "/blobs/uploads/" in path:
            code = "BLOB_UPLOAD_UNKNOWN"
        elif "/blobs/" in path:
            code = "BLOB_UNKNOWN"
        else:
            code = "NAME_UNKNOWN"
    if code is None or body:
        return []
    return [{"code": code, "message": ""}]


def retry_after(resp: requests.Response) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` (delta or HTTP date)."""
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    seconds = untrusted.whole(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _errors_payload(resp: requests.Response, raw: bytes) -> list[dict[str, Any]]:
    # Spec "Error Codes": {"errors": [{"code", "message", "detail"}]}.
    if resp.request.method == "HEAD":
        return []
    try:
        body = untrusted.loads(raw or b"null")
    except ValueError:
        return []
    errs = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errs, list):
        return []
    return [
        {"code": shown(str(e.get("code", ""))), "message": shown(str(e.get("message", "")))}
        for e in errs[: defaults.MAX_ERRORS_KEPT]
        if isinstance(e, dict)
    ]


def _sanitised_body(resp: requests.Response, body: bytes) -> str:
    if resp.request.method == "HEAD":
        return ""
    text = body[:_BODY_SHOWN].decode("utf-8", "replace")
    return shown(" ".join(text.split()))
