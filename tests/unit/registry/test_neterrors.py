"""One-line reasons for failed requests (syncer.registry.neterrors)."""

from __future__ import annotations

import urllib3

from syncer.registry.neterrors import is_certificate_problem, never_connected, short


def test_a_connection_that_never_opened_names_its_host_and_socket_error() -> None:
    pool = urllib3.HTTPSConnectionPool("registry.invalid", 443)
    conn = pool.ConnectionCls("registry.invalid", 443)
    refused = ConnectionRefusedError(111, "Connection refused")
    wrapped = urllib3.exceptions.NewConnectionError(conn, "Failed to establish a new connection")
    wrapped.__cause__ = refused
    outer = urllib3.exceptions.MaxRetryError(pool, "/v2/", wrapped)

    assert never_connected(outer) == ("registry.invalid", 443, refused)
    assert never_connected(TimeoutError("timed out")) is None  # it connected, then stalled


def test_certificate_problems_are_told_from_other_tls_errors() -> None:
    assert is_certificate_problem(
        Exception("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    )
    assert not is_certificate_problem(Exception("[SSL: WRONG_VERSION_NUMBER] wrong version number"))


def test_the_short_form_drops_the_query_and_the_pool_repr() -> None:
    exc = Exception(
        "HTTPSConnectionPool(host='r', port=443): Max retries exceeded with url: "
        "/v2/a?token=secret (Caused by ReadTimeoutError('read timed out'))"
    )
    text = short(exc)
    assert "secret" not in text and "HTTPSConnectionPool" not in text
    assert text.startswith("ReadTimeoutError")
