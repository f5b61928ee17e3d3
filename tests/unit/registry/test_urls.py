"""Unit tests for syncer.registry.urls: what a message may show, and credential origins."""

from __future__ import annotations

import pytest

from syncer.registry.urls import is_loopback, origin, shown_host, strip_query


def test_origin_fills_in_the_default_port_and_folds_case() -> None:
    assert origin("HTTPS://Reg.Example/v2/") == ("https", "reg.example", 443)
    assert origin("http://reg.example/v2/") == ("http", "reg.example", 80)
    assert origin("https://reg.example:443/x") == origin("https://reg.example/y")
    assert origin("https://reg.example:5000/x") != origin("https://reg.example/x")


def test_a_bad_port_matches_no_real_origin() -> None:
    assert origin("https://reg.example:99999/x")[2] == -1


def test_strip_query_drops_upload_state() -> None:
    assert strip_query("https://r/v2/a/blobs/uploads/u1?_state=secret") == (
        "https://r/v2/a/blobs/uploads/u1"
    )


def test_shown_host_hides_user_info_and_control_characters() -> None:
    assert shown_host("https://user:pw@cdn.example:8443/x?sig=1") == "cdn.example:8443"
    assert shown_host("https://bad\x1bhost/") == "bad\\x1bhost"


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:5000/v2/", True),
        ("https://127.9.9.9/v2/", True),
        ("http://localhost/v2/", True),
        ("http://[::1]:5000/v2/", True),
        ("https://reg.example/v2/", False),
        ("https://10.0.0.1/v2/", False),
        ("https://localhost.example/v2/", False),
    ],
)
def test_is_loopback(url: str, loopback: bool) -> None:
    """What Go's http.ProxyFromEnvironment never proxies."""
    assert is_loopback(url) is loopback
