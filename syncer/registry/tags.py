"""Listing a repository's tags: ``tags/list`` pages, followed with suspicion.

Spec: "Listing Tags" in the distribution spec. A registry pages with
``Link: <url>; rel="next"``; we follow it only while it stays on the
registry's own origin and this repository's ``tags/list`` path, never to a
page already read, and only up to :func:`defaults.max_tag_pages` pages and
:func:`defaults.max_tags` tags. Each page is read with a size cap. Tags come
out as the server sent them: checking them against the grammar is the
caller's job (:func:`syncer.oci.reference.server_tag`), so one bad tag fails one
image, not the listing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from syncer import defaults, untrusted
from syncer.errors import PaginationError, RegistryError
from syncer.oci.reference import Repository
from syncer.registry import transport, urls
from syncer.registry.connection import RegistryConnection, pull_scope


@dataclass(frozen=True, slots=True)
class TagPage:
    """One ``tags/list`` page: its tags as sent, and the next page's absolute URL."""

    tags: list[str]
    next: str | None


#: How a listing fetches one page; the engine passes one that retries.
Fetch = Callable[[Callable[[], TagPage]], TagPage]


def _once(read: Callable[[], TagPage]) -> TagPage:
    return read()


def iter_tags(
    client: RegistryConnection, repo: Repository, page_size: int, fetch: Fetch = _once
) -> Iterator[str]:
    """Every tag of ``repo``, page by page, as each page arrives."""
    url: str | None = f"{client.base_url}{repo.tags_path()}?n={page_size}"
    visited: set[str] = set()
    count, max_pages, max_tags = 0, defaults.max_tag_pages(), defaults.max_tags()
    while url is not None:
        if url in visited:
            raise PaginationError(
                f"list tags of {repo}: the registry's next page loops back to one "
                f"already read ({urls.strip_query(url)})"
            )
        if len(visited) >= max_pages:
            raise PaginationError(
                f"list tags of {repo}: more than {max_pages} pages (cap $SYNCER_MAX_TAG_PAGES)"
            )
        visited.add(url)
        page = fetch(lambda u=url: read_page(client, repo, u))  # type: ignore[misc]
        for tag in page.tags:
            count += 1
            if count > max_tags:
                raise PaginationError(
                    f"list tags of {repo}: more than {max_tags} tags (cap $SYNCER_MAX_TAGS)"
                )
            yield tag
        url = page.next


def read_page(client: RegistryConnection, repo: Repository, url: str) -> TagPage:
    """GET one ``tags/list`` page, at most :data:`defaults.MAX_TAGS_PAGE` bytes of it."""
    what = f"list tags of {repo}"
    resp = client.request("GET", url, (pull_scope(repo),), what=what, stream=True)
    body = transport.read_capped(resp, defaults.MAX_TAGS_PAGE, what)
    try:
        data = untrusted.loads(body) if body else {}
    except ValueError as exc:
        raise RegistryError(f"{what}: {urls.strip_query(url)} is not JSON") from exc
    tags = data.get("tags") if isinstance(data, dict) else None
    if tags is not None and not isinstance(tags, list):
        raise RegistryError(f"{what}: {urls.strip_query(url)} has no list of tags")
    # A non-string entry is passed on as text that fails the grammar: one failed image.
    listed = [
        t if isinstance(t, str) else f"{json.dumps(t)[:100]} (not a string)" for t in tags or ()
    ]
    link = resp.links.get("next", {}).get("url")
    return TagPage(listed, _next_page(client, repo, resp.url, link) if link else None)


def _next_page(client: RegistryConnection, repo: Repository, current: str, link: str) -> str:
    """The absolute next-page URL, if it stays on this registry and this repository."""
    url = urljoin(current, link)
    got, ours = urlsplit(url), urlsplit(client.base_url)
    if (got.scheme, got.netloc) != (ours.scheme, ours.netloc) or got.path != repo.tags_path():
        raise PaginationError(
            f"list tags of {repo}: the registry's next page leaves this repository's "
            f"tag list ({urls.strip_query(url)[:200]!r})"
        )
    return url
