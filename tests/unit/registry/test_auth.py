"""The auth flow through a fake transport: 401 challenges, the token endpoint, the token cache."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
import requests

from syncer import defaults
from syncer.errors import AuthError, is_transient
from syncer.oci.reference import Repository
from syncer.registry import auth as auth_module
from syncer.registry.auth import Challenge
from syncer.registry.credentials import AuthEntry
from tests.support.fakes import (
    BASE,
    BEARER,
    HOST,
    REALM,
    FakeTransport,
    Reply,
    TokenEndpoint,
    bearer_registry,
    client,
    json_reply,
    needs_token,
    open_registry,
    raises,
    replies,
)

REPO = Repository.parse("reg.example/team/app")
OTHER = Repository.parse("reg.example/team/other")
TAG_URL = f"{BASE}/v2/team/app/manifests/v1"
OTHER_URL = f"{BASE}/v2/team/other/manifests/v1"
ALICE = AuthEntry("alice", "s3cret-pw")
ALICE_BASIC = "Basic " + base64.b64encode(b"alice:s3cret-pw").decode()


@pytest.fixture
def fake() -> FakeTransport:
    return FakeTransport()


def test_challenge_parse_quoted_commas_and_bare_tokens() -> None:
    ch = Challenge.parse(
        'BEARER Realm="https://a/t",scope="repository:x:pull,push",error=insufficient_scope'
    )
    assert ch == Challenge(
        "bearer",
        {"realm": "https://a/t", "scope": "repository:x:pull,push", "error": "insufficient_scope"},
    )
    assert Challenge.parse("  ") is None


@pytest.mark.parametrize(
    ("header", "params"),
    [
        ('Bearer realm="a\\"b",x', {"realm": 'a"b'}),
        ("Bearer realm = tok , service=svc", {"realm": "tok", "service": "svc"}),
        ('Bearer junk, realm="r", =v, a=', {"realm": "r", "a": ""}),
        ('Bearer realm="unterminated', {"realm": "unterminated"}),
        ('Bearer realm="first",realm="second"', {"realm": "first"}),
        ("Bearer " + "a" * 4000, {}),
    ],
)
def test_challenge_parse_edges(header: str, params: dict[str, str]) -> None:
    ch = Challenge.parse(header)
    assert ch is not None and ch.params == params


def test_challenge_over_the_cap_is_refused_before_parsing() -> None:
    header = "Bearer " + "a" * defaults.MAX_CHALLENGE
    with pytest.raises(AuthError, match="WWW-Authenticate header is"):
        Challenge.parse(header)


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (float("nan"), 60.0),
        (float("inf"), 60.0),
        ("1e400", 60.0),
        (-5, 60.0),
        (True, 60.0),
        ([300], 60.0),
        ("300", 300.0),
        (10**12, defaults.MAX_TOKEN_LIFETIME),
    ],
)
def test_token_lifetime_is_finite_and_clamped(expires_in: object, lifetime: float) -> None:
    assert auth_module._lifetime(expires_in) == lifetime


def test_nan_lifetime_does_not_fetch_a_token_per_request(fake: FakeTransport) -> None:
    tokens = TokenEndpoint()
    bearer_registry(fake, tokens)
    fake.on("GET", REALM, lambda seen: Reply(200, {}, b'{"token": "tok-1", "expires_in": NaN}'))
    fake.on("HEAD", TAG_URL, needs_token("tok-1", Reply(200, {"Docker-Content-Digest": "d"})))
    c = client(fake, ALICE)

    for _ in range(3):
        c.head_manifest(REPO, "v1")

    assert len(fake.requests_to("GET", REALM)) == 1


def test_bearer_flow_fetches_token_with_credentials_and_retries(fake: FakeTransport) -> None:
    tokens = TokenEndpoint()
    bearer_registry(fake, tokens)
    fake.on("HEAD", TAG_URL, needs_token("tok-1", Reply(200, {"Docker-Content-Digest": "d"})))

    head = client(fake, ALICE).head_manifest(REPO, "v1")

    assert head is not None and head.digest == "d"
    (token_req,) = fake.requests_to("GET", REALM)
    assert token_req.query == {"service": ["reg"], "scope": ["repository:team/app:pull"]}
    assert token_req.headers["Authorization"] == ALICE_BASIC
    (head_req,) = fake.requests_to("HEAD", TAG_URL)
    assert head_req.headers["Authorization"] == "Bearer tok-1"


def test_bearer_flow_is_anonymous_without_credentials(fake: FakeTransport) -> None:
    tokens = TokenEndpoint()
    bearer_registry(fake, tokens)
    fake.on("HEAD", TAG_URL, needs_token("tok-1", Reply(200)))

    client(fake).head_manifest(REPO, "v1")

    (token_req,) = fake.requests_to("GET", REALM)
    assert "Authorization" not in token_req.headers


def test_token_is_cached_per_scope(fake: FakeTransport) -> None:
    tokens = TokenEndpoint()
    bearer_registry(fake, tokens)
    fake.on("HEAD", TAG_URL, needs_token("tok-1", Reply(200)))
    fake.on("HEAD", OTHER_URL, needs_token("tok-2", Reply(200)))
    c = client(fake, ALICE)

    c.head_manifest(REPO, "v1")
    c.head_manifest(REPO, "v1")
    assert tokens.issued == 1
    c.head_manifest(OTHER, "v1")

    assert tokens.issued == 2 == c.auth.token_requests
    scopes = [s.query["scope"] for s in fake.requests_to("GET", REALM)]
    assert scopes == [["repository:team/app:pull"], ["repository:team/other:pull"]]


def test_mount_asks_for_both_scopes_in_one_token(fake: FakeTransport) -> None:
    tokens = TokenEndpoint()
    bearer_registry(fake, tokens)
    fake.on("POST", f"{BASE}/v2/team/app/blobs/uploads/", needs_token("tok-1", Reply(201)))

    assert client(fake, ALICE).mount_blob(REPO, "sha256:" + "a" * 64, OTHER)

    (token_req,) = fake.requests_to("GET", REALM)
    assert token_req.query["scope"] == [
        "repository:team/app:pull,push",
        "repository:team/other:pull",
    ]


def test_insufficient_scope_refreshes_the_token(fake: FakeTransport) -> None:
    tokens = TokenEndpoint()
    bearer_registry(fake, tokens)
    narrow = BEARER + ',scope="repository:team/app:pull",error="insufficient_scope"'
    fake.on("HEAD", TAG_URL, needs_token("tok-2", Reply(200), challenge=narrow))
    c = client(fake, ALICE)

    c.head_manifest(REPO, "v1")

    assert tokens.issued == 2
    sent = [s.headers.get("Authorization") for s in fake.requests_to("HEAD", TAG_URL)]
    assert sent == ["Bearer tok-1", "Bearer tok-2"]


def test_second_plain_401_with_fresh_token_is_an_auth_error(fake: FakeTransport) -> None:
    tokens = TokenEndpoint()
    bearer_registry(fake, tokens)
    fake.on("HEAD", TAG_URL, needs_token("never", Reply(200)))

    with pytest.raises(AuthError) as info:
        client(fake, ALICE).head_manifest(REPO, "v1")

    assert info.value.status == 401
    assert len(fake.requests_to("HEAD", TAG_URL)) == 2  # one retry, no loop


def test_expired_token_is_refreshed(fake: FakeTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(auth_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    tokens = TokenEndpoint(expires_in=120)
    bearer_registry(fake, tokens)
    fake.on("HEAD", TAG_URL, lambda seen: Reply(200))
    c = client(fake, ALICE)

    c.head_manifest(REPO, "v1")
    now[0] += 100  # inside the lifetime minus the safety margin
    c.head_manifest(REPO, "v1")
    assert tokens.issued == 1
    now[0] += 15  # 115s: within the 10s margin of expiry
    c.head_manifest(REPO, "v1")

    assert tokens.issued == 2
    sent = [s.headers["Authorization"] for s in fake.requests_to("HEAD", TAG_URL)]
    assert sent == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_access_token_field_and_default_lifetime(fake: FakeTransport) -> None:
    bearer_registry(fake, TokenEndpoint())
    fake.on("GET", REALM, json_reply({"access_token": "oauth-tok"}))
    fake.on("HEAD", TAG_URL, needs_token("oauth-tok", Reply(200)))

    assert client(fake).head_manifest(REPO, "v1") is not None


@pytest.mark.parametrize("body", [b"not json", b'{"token": ""}', b'["tok"]'])
def test_bad_token_response_is_an_auth_error(fake: FakeTransport, body: bytes) -> None:
    bearer_registry(fake, TokenEndpoint())
    fake.on("GET", REALM, Reply(200, {}, body))
    fake.on("HEAD", TAG_URL, needs_token("x", Reply(200)))

    with pytest.raises(AuthError):
        client(fake).head_manifest(REPO, "v1")


def test_token_endpoint_401_is_auth_error_without_password(fake: FakeTransport) -> None:
    bearer_registry(fake, TokenEndpoint(status=401))
    fake.on("HEAD", TAG_URL, needs_token("x", Reply(200)))

    with pytest.raises(AuthError) as info:
        client(fake, ALICE).head_manifest(REPO, "v1")

    text = f"{info.value} {info.value.url} {info.value!r}"
    assert info.value.status == 401 and "token request" in str(info.value)
    assert "s3cret-pw" not in text and ALICE_BASIC.split()[1] not in text


def test_basic_challenge_retries_with_basic_header(fake: FakeTransport) -> None:
    open_registry(fake)  # the ping is open; the repository is not
    basic = Reply(401, {"WWW-Authenticate": 'Basic realm="reg"'})
    fake.on(
        "HEAD",
        TAG_URL,
        lambda s: Reply(200) if s.headers.get("Authorization") == ALICE_BASIC else basic,
    )

    assert client(fake, ALICE).head_manifest(REPO, "v1") is not None

    sent = [s.headers.get("Authorization") for s in fake.requests_to("HEAD", TAG_URL)]
    assert sent == [None, ALICE_BASIC]
    assert fake.requests_to("GET", REALM) == []


def test_basic_challenge_learnt_at_ping_is_sent_up_front(fake: FakeTransport) -> None:
    fake.on("GET", f"{BASE}/v2/", Reply(401, {"WWW-Authenticate": 'Basic realm="reg"'}))
    fake.on("HEAD", TAG_URL, Reply(200))

    client(fake, ALICE).head_manifest(REPO, "v1")

    (head_req,) = fake.requests_to("HEAD", TAG_URL)
    assert head_req.headers["Authorization"] == ALICE_BASIC


def test_basic_challenge_without_credentials_is_auth_error(fake: FakeTransport) -> None:
    basic = Reply(401, {"WWW-Authenticate": 'Basic realm="reg"'})
    fake.on("GET", f"{BASE}/v2/", basic)
    fake.on("GET", TAG_URL, basic)

    with pytest.raises(AuthError) as info:
        client(fake).get_manifest(REPO, "v1")

    assert info.value.status == 401
    assert len(fake.requests_to("GET", TAG_URL)) == 1
    assert "Authorization" not in fake.requests_to("GET", TAG_URL)[0].headers


def test_401_without_challenge_is_not_retried(fake: FakeTransport) -> None:
    open_registry(fake)
    fake.on("GET", TAG_URL, replies(Reply(401), Reply(200)))

    with pytest.raises(AuthError):
        client(fake, ALICE).get_manifest(REPO, "v1")
    assert len(fake.requests_to("GET", TAG_URL)) == 1


def test_identity_token_uses_refresh_token_grant(fake: FakeTransport) -> None:
    # syncer.registry.credentials maps docker's "identitytoken" and helper answers with
    # Username "<token>" to AuthEntry("<token>", refresh_token). The token spec
    # (https://distribution.github.io/distribution/spec/auth/oauth/) exchanges
    # it with POST grant_type=refresh_token, never as a Basic password.
    bearer_registry(fake, TokenEndpoint())
    fake.on("POST", REALM, json_reply({"access_token": "tok-r"}))
    fake.on("HEAD", TAG_URL, needs_token("tok-r", Reply(200)))

    client(fake, AuthEntry("<token>", "refresh-me")).head_manifest(REPO, "v1")

    (post,) = fake.requests_to("POST", REALM)
    assert b"grant_type=refresh_token" in post.body and b"refresh_token=refresh-me" in post.body


# -- where the realm may be ------------------------------------------------------------------

PLAIN_REALM = "http://auth.example/token"


def _http_realm_registry(fake: FakeTransport, tokens: TokenEndpoint, base: str = BASE) -> None:
    challenge = f'Bearer realm="{PLAIN_REALM}",service="reg"'
    fake.on("GET", f"{base}/v2/", Reply(401, {"WWW-Authenticate": challenge}))
    fake.on("GET", PLAIN_REALM, tokens)
    fake.on("POST", PLAIN_REALM, tokens)
    fake.on("HEAD", f"{base}/v2/team/app/manifests/v1", needs_token("tok-1", Reply(200), challenge))


@pytest.mark.parametrize(
    "creds", [ALICE, AuthEntry("<token>", "refresh-me")], ids=["password", "identity-token"]
)
def test_https_registry_never_sends_credentials_to_an_http_realm(
    fake: FakeTransport, creds: AuthEntry
) -> None:
    _http_realm_registry(fake, TokenEndpoint())

    with pytest.raises(AuthError) as info:
        client(fake, creds).head_manifest(REPO, "v1")

    assert "plain http" in str(info.value) and "auth.example" in str(info.value)
    assert not is_transient(info.value)
    assert [s for s in fake.seen if s.url.startswith("http://")] == []


def test_anonymous_token_may_come_from_an_http_realm(fake: FakeTransport) -> None:
    _http_realm_registry(fake, TokenEndpoint())

    assert client(fake).head_manifest(REPO, "v1") is not None
    (token_req,) = fake.requests_to("GET", PLAIN_REALM)
    assert "Authorization" not in token_req.headers


def test_an_http_registry_may_use_an_http_realm(fake: FakeTransport) -> None:
    # Plain http for the registry was the user's choice (insecure or loopback).
    fake.on("GET", f"{BASE}/v2/", raises(requests.exceptions.SSLError("wrong version number")))
    _http_realm_registry(fake, TokenEndpoint(), base=f"http://{HOST}")

    client(fake, ALICE, insecure=True).head_manifest(REPO, "v1")

    (token_req,) = fake.requests_to("GET", PLAIN_REALM)
    assert token_req.headers["Authorization"] == ALICE_BASIC


def test_a_realm_that_is_not_http_is_refused(fake: FakeTransport) -> None:
    fake.on("GET", f"{BASE}/v2/", Reply(401, {"WWW-Authenticate": 'Bearer realm="file:///etc/x"'}))
    fake.on("HEAD", TAG_URL, Reply(401, {"WWW-Authenticate": 'Bearer realm="file:///etc/x"'}))

    with pytest.raises(AuthError, match="not an http"):
        client(fake, ALICE).head_manifest(REPO, "v1")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize(
    "creds", [ALICE, AuthEntry("<token>", "refresh-me")], ids=["password", "identity-token"]
)
def test_credentialed_token_requests_follow_no_redirect(
    fake: FakeTransport, status: int, creds: AuthEntry
) -> None:
    bearer_registry(fake, TokenEndpoint())
    elsewhere = "https://collector.example/token"
    fake.on("GET", REALM, Reply(status, {"Location": elsewhere}))
    fake.on("POST", REALM, Reply(status, {"Location": elsewhere}))
    fake.on("GET", elsewhere, TokenEndpoint())
    fake.on("POST", elsewhere, TokenEndpoint())
    fake.on("HEAD", TAG_URL, needs_token("tok-1", Reply(200)))

    with pytest.raises(AuthError) as info:
        client(fake, creds).head_manifest(REPO, "v1")

    assert f"HTTP {status} redirect to collector.example" in str(info.value)
    assert [s for s in fake.seen if "collector" in s.url] == []


def test_anonymous_token_requests_still_follow_redirects(fake: FakeTransport) -> None:
    bearer_registry(fake, TokenEndpoint())
    elsewhere = "https://tokens.example/token"
    fake.on("GET", REALM, Reply(307, {"Location": elsewhere}))
    fake.on("GET", elsewhere, TokenEndpoint())
    fake.on("HEAD", TAG_URL, needs_token("tok-1", Reply(200)))

    assert client(fake).head_manifest(REPO, "v1") is not None
    (moved,) = fake.requests_to("GET", elsewhere)
    assert "Authorization" not in moved.headers


def test_a_token_reply_nested_past_the_recursion_limit_is_an_auth_error(
    fake: FakeTransport,
) -> None:
    bearer_registry(fake, TokenEndpoint())
    fake.on(
        "GET", REALM, lambda seen: Reply(200, {}, b'{"token": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    )
    with pytest.raises(AuthError, match="token response is not JSON with a token"):
        client(fake, ALICE).head_manifest(REPO, "v1")
