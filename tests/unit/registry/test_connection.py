"""Unit tests for syncer.registry.connection: the authenticated exchange under the API calls."""

from __future__ import annotations

import pytest

from syncer.errors import AuthError, NotFoundError, RateLimitedError
from syncer.oci.reference import Repository
from syncer.registry.connection import (
    RATELIMIT_LOW_WATER,
    RATELIMIT_PAUSE,
    RegistryConnection,
    pull_scope,
    push_scope,
)
from syncer.registry.credentials import AuthEntry
from tests.support.fakes import HOST, FakeTransport, Reply, mounted

BASE = f"https://{HOST}"
REPO = Repository.parse(f"{HOST}/team/app")


class Pauses:
    """A throttle that records every pause it is asked for."""

    def __init__(self) -> None:
        self.pauses: list[tuple[str, float]] = []

    def wait(self, registry: str) -> None:
        return None

    def pause(self, registry: str, seconds: float) -> None:
        self.pauses.append((registry, seconds))


def connection(fake: FakeTransport, throttle: Pauses | None = None) -> RegistryConnection:
    return RegistryConnection(HOST, session=mounted(fake), throttle=throttle)


def test_scopes_name_the_repository_path() -> None:
    assert pull_scope(REPO) == "repository:team/app:pull"
    assert push_scope(REPO) == "repository:team/app:pull,push"


def test_a_relative_target_goes_to_the_probed_base(fake: FakeTransport) -> None:
    fake.on("GET", f"{BASE}/v2/x", Reply(200))
    conn = connection(fake)

    assert conn.request("GET", "/v2/x", (), what="x").status_code == 200
    conn.request("GET", "/v2/x", (), what="x")

    assert conn.base_url == BASE
    assert len(fake.requests_to("GET", f"{BASE}/v2/")) == 1  # probed once


def test_an_expected_404_is_answered_and_any_other_raised(fake: FakeTransport) -> None:
    fake.on("HEAD", f"{BASE}/v2/x", Reply(404))
    conn = connection(fake)

    assert conn.request("HEAD", "/v2/x", (), what="x", expect_404=True).status_code == 404
    with pytest.raises(NotFoundError):
        conn.request("HEAD", "/v2/x", (), what="x")


def test_a_429_pauses_the_registry_for_its_retry_after(fake: FakeTransport) -> None:
    fake.on("GET", f"{BASE}/v2/x", Reply(429, {"Retry-After": "7"}))
    throttle = Pauses()
    with pytest.raises(RateLimitedError):
        connection(fake, throttle).request("GET", "/v2/x", (), what="x")
    assert throttle.pauses == [(HOST, 7.0)]


def test_a_low_rate_limit_budget_slows_down_before_a_429(fake: FakeTransport) -> None:
    fake.on("GET", f"{BASE}/v2/x", Reply(200, {"ratelimit-remaining": "0;w=21600"}))
    throttle = Pauses()
    connection(fake, throttle).request("GET", "/v2/x", (), what="x")
    assert throttle.pauses == [(HOST, RATELIMIT_PAUSE * (RATELIMIT_LOW_WATER + 1))]


def test_location_completes_a_relative_header(fake: FakeTransport) -> None:
    fake.on("POST", f"{BASE}/v2/team/app/blobs/uploads/", Reply(202, {"Location": "u1?_state=s"}))
    conn = connection(fake)
    resp = conn.request("POST", "/v2/team/app/blobs/uploads/", (), what="x", data=b"")
    assert conn.location(resp) == f"{BASE}/v2/team/app/blobs/uploads/u1?_state=s"


@pytest.mark.parametrize(
    ("login", "status", "note"),
    [
        (None, 401, f"no credentials were sent: no auth entry or login file has one for {HOST}"),
        (AuthEntry("bob", "pw"), 401, f"the credentials for {HOST} were refused"),
        (AuthEntry("bob", "pw"), 403, f"the credentials for {HOST} lack the right to this"),
    ],
)
def test_a_refused_login_says_whether_one_was_sent(
    fake: FakeTransport, login: AuthEntry | None, status: int, note: str
) -> None:
    fake.on("GET", f"{BASE}/v2/x", Reply(status, {"WWW-Authenticate": 'Basic realm="r"'}))
    conn = RegistryConnection(HOST, login, session=mounted(fake))

    with pytest.raises(AuthError) as info:
        conn.request("GET", "/v2/x", (), what="GET x")

    assert str(info.value).startswith(f"GET x: HTTP {status}")
    assert str(info.value).endswith(f"; {note}") and "pw" not in str(info.value)
    assert info.value.status == status
