"""tags/list paging and capped reads, on a fake transport: loops, foreign links, caps."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import requests

from syncer import defaults
from syncer.errors import (
    ConfigError,
    PaginationError,
    RegistryError,
    ResponseTooLargeError,
    ServerError,
)
from syncer.oci.reference import Repository
from syncer.registry import transport
from syncer.registry.tags import TagPage, iter_tags
from tests.support.fakes import BASE, FakeTransport, Reply, client, json_reply

REPO = Repository.parse("reg.example/team/app")
TAGS = f"{BASE}/v2/team/app/tags/list"


def _page(tags: list[str], link: str | None = None) -> Reply:
    return json_reply({"tags": tags}, **({"Link": f'<{link}>; rel="next"'} if link else {}))


def test_a_link_back_to_a_page_already_read_is_a_loop(fake: FakeTransport) -> None:
    pages = {
        "": _page(["a"], "/v2/team/app/tags/list?n=2&last=a"),
        "a": _page(["b"], "/v2/team/app/tags/list?n=2"),
    }
    fake.on("GET", TAGS, lambda seen: pages[seen.query.get("last", [""])[0]])
    got: list[str] = []
    with pytest.raises(PaginationError, match="loops back to one already read"):
        got.extend(client(fake).list_tags(REPO, page_size=2))
    assert got == ["a", "b"]
    assert len(fake.requests_to("GET", TAGS)) == 2


def test_each_page_goes_through_the_fetch_the_engine_passes(fake: FakeTransport) -> None:
    pages = {"": _page(["a"], "/v2/team/app/tags/list?n=1&last=a"), "a": _page(["b"], None)}
    fake.on("GET", TAGS, lambda seen: pages[seen.query.get("last", [""])[0]])
    fetched: list[TagPage] = []

    def fetch(read: Callable[[], TagPage]) -> TagPage:
        fetched.append(read())
        return fetched[-1]

    assert list(iter_tags(client(fake), REPO, 1, fetch)) == ["a", "b"]
    assert [page.tags for page in fetched] == [["a"], ["b"]]


@pytest.mark.parametrize(
    "link",
    [
        "https://elsewhere.example/v2/team/app/tags/list?last=a",
        "http://reg.example/v2/team/app/tags/list?last=a",
        "/v2/team/other/tags/list?last=a",
        "/v2/team/app/tags/list/../../other/tags/list?last=a",
        "/v2/team/app/manifests/latest",
    ],
)
def test_a_next_page_off_this_repositorys_tag_list_is_refused(
    fake: FakeTransport, link: str
) -> None:
    fake.on("GET", TAGS, _page(["a"], link))
    with pytest.raises(PaginationError, match="leaves this repository's tag list"):
        list(client(fake).list_tags(REPO))
    assert [s.url.split("?")[0] for s in fake.seen if "tags" in s.url] == [TAGS]


def test_pages_and_tags_are_capped(fake: FakeTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    count = iter(range(1000))
    fake.on("GET", TAGS, lambda _: _page(["a", "b"], f"/v2/team/app/tags/list?last={next(count)}"))
    monkeypatch.setenv("SYNCER_MAX_TAG_PAGES", "3")
    with pytest.raises(PaginationError, match="more than 3 pages"):
        list(client(fake).list_tags(REPO))
    monkeypatch.setenv("SYNCER_MAX_TAG_PAGES", "100")
    monkeypatch.setenv("SYNCER_MAX_TAGS", "5")
    got: list[str] = []
    with pytest.raises(PaginationError, match="more than 5 tags"):
        got.extend(client(fake).list_tags(REPO))
    assert len(got) == 5


def test_a_tag_page_that_is_not_json_fails_the_listing(fake: FakeTransport) -> None:
    fake.on("GET", TAGS, Reply(200, {}, b"<html>"))
    with pytest.raises(RegistryError, match="is not JSON"):
        list(client(fake).list_tags(REPO))


def test_a_tag_page_over_its_cap_is_refused_by_its_length(fake: FakeTransport) -> None:
    fake.on("GET", TAGS, Reply(200, {"Content-Length": str(defaults.MAX_TAGS_PAGE + 1)}, b"{}"))
    with pytest.raises(ResponseTooLargeError, match=f"{TAGS} sent more than the 8 MiB cap"):
        list(client(fake).list_tags(REPO))


def test_a_manifest_over_the_configured_cap_is_refused(
    fake: FakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b'{"schemaVersion":2,' + b" " * 3000 + b"}"
    fake.on("GET", f"{BASE}/v2/team/app/manifests/v1", Reply(200, {}, body))
    monkeypatch.setenv("SYNCER_MAX_MANIFEST", "2048")
    with pytest.raises(ResponseTooLargeError, match="2 KiB cap"):
        client(fake).get_manifest(REPO, "v1")
    monkeypatch.setenv("SYNCER_MAX_MANIFEST", str(len(body)))
    assert client(fake).get_manifest(REPO, "v1").body == body


def test_an_error_body_is_kept_only_up_to_its_cap(fake: FakeTransport) -> None:
    body = b'{"errors":[{"code":"X","message":"y"}]}' + b"x" * (2 * defaults.MAX_ERROR_BODY)
    fake.on("GET", f"{BASE}/v2/team/app/manifests/v1", Reply(503, {}, body))
    with pytest.raises(ServerError) as info:
        client(fake).get_manifest(REPO, "v1")
    # Cut at the cap, the JSON no longer parses: the message shows its start instead.
    assert '{"errors":[{"code":"X"' in str(info.value) and len(str(info.value)) < 400


def test_a_bad_cap_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_MAX_MANIFEST", "4M")
    with pytest.raises(
        ConfigError, match=r"\$SYNCER_MAX_MANIFEST: .* is not a positive whole number"
    ):
        defaults.max_manifest()


def test_drain_reads_no_more_than_its_limit() -> None:
    resp = requests.Response()
    resp.raw = io.BytesIO(b"x" * 1000)
    resp.url = "http://reg.example/v2/?secret=1"
    resp.request = requests.Request("GET", resp.url).prepare()
    assert transport.drain(resp, 100) == b"x" * 100
    assert resp.content == b"x" * 100


def test_a_tag_page_nested_past_the_recursion_limit_fails_the_listing(fake: FakeTransport) -> None:
    fake.on("GET", TAGS, Reply(200, {}, b"[" * 5000 + b"]" * 5000))
    with pytest.raises(RegistryError, match="is not JSON"):
        list(client(fake).list_tags(REPO))
