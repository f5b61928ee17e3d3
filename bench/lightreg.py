"""A registry that is never the bottleneck, for (p): every tag of a repository is one image.

``python -m bench.lightreg --address A --port P --tags N`` serves, over plain
HTTP/1.1 with keep-alive, just what a no-op re-check asks: ``/v2/``, a tag
listing of N tags (``t0000000`` on, paged as distribution pages it) for any
repository, and for any tag of any repository the same small image manifest
by HEAD or GET, with its digest. A destination served by it already holds
every tag, so a plan from one of its repositories to another is a re-check
pass that finds nothing to copy. It costs a few microseconds of CPU per
request, where the filesystem ``docker-registry`` spends about 2 ms per HEAD
on the bench machine: what the bench measures is syncer's own cost.

It answers nothing else (404): nothing in a no-op pass needs more.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import json
import re
from urllib.parse import parse_qs, urlsplit

from syncer.oci import mediatypes as mt

#: The one image every tag is: a config and one layer, never fetched by a no-op pass.
_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {
            "mediaType": mt.DOCKER_CONFIG,
            "size": 2,
            "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
        },
        "layers": [
            {
                "mediaType": mt.DOCKER_LAYER,
                "size": 1,
                "digest": "sha256:" + hashlib.sha256(b"x").hexdigest(),
            }
        ],
    },
    separators=(",", ":"),
).encode()
_DIGEST = "sha256:" + hashlib.sha256(_MANIFEST).hexdigest()
_PATH = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+)/(?P<kind>manifests|tags)/(?P<ref>[^/]+)$")
#: distribution's default page when the client names none.
_PAGE = 100


def tag_names(count: int) -> list[str]:
    """The tags served: ``t0000000`` onwards."""
    return [f"t{i:07d}" for i in range(count)]


class LightRegistry:
    """The request handler: a fixed image under every tag, and a listing of ``tags``."""

    def __init__(self, tags: list[str]) -> None:
        self.tags = tags

    def answer(self, method: str, target: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request."""
        url = urlsplit(target)
        if url.path in ("/v2/", "/v2"):
            return 200, {"Content-Type": "application/json"}, b"{}"
        match = _PATH.match(url.path)
        if match is None:
            return 404, {}, b""
        if match["kind"] == "tags" and match["ref"] == "list":
            return self._listing(match["repo"], parse_qs(url.query))
        if match["kind"] == "manifests":
            head = {"Content-Type": mt.DOCKER_MANIFEST, "Docker-Content-Digest": _DIGEST}
            return 200, head, _MANIFEST
        return 404, {}, b""

    def _listing(self, repo: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        n = int((query.get("n") or [_PAGE])[0])
        last = (query.get("last") or [""])[0]
        # Tags are sorted: the page starts after ``last``.
        start = bisect.bisect_right(self.tags, last) if last else 0
        page = self.tags[start : start + n]
        headers = {"Content-Type": "application/json"}
        if start + n < len(self.tags) and page:
            headers["Link"] = f'</v2/{repo}/tags/list?n={n}&last={page[-1]}>; rel="next"'
        return 200, headers, json.dumps({"name": repo, "tags": page}).encode()


async def _serve_client(
    registry: LightRegistry, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, target, _ = line.decode("latin-1").split(" ", 2)
            length = 0
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            status, headers, body = registry.answer(method, target)
            head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}"]
            head += [f"{k}: {v}" for k, v in headers.items()]
            head.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
    except (ConnectionError, ValueError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def serve(address: str, port: int, tags: int) -> None:
    """Serve until cancelled."""
    registry = LightRegistry(tag_names(tags))
    server = await asyncio.start_server(
        lambda r, w: _serve_client(registry, r, w), address, port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    """``python -m bench.lightreg``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tags", type=int, required=True)
    args = p.parse_args()
    asyncio.run(serve(args.address, args.port, args.tags))


if __name__ == "__main__":
    main()
