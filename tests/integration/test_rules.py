"""Every rule form of an ``images`` map, end to end through ``syncer sync``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from lab.images import ImageSet
from syncer.oci.reference import Repository
from syncer.registry.client import RegistryClient
from tests.support.embedded import RunSync, seed, sync_config, write_config
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure
from tests.support.verify import RegistryReader, access_log, verify_image

pytestmark = pytest.mark.integration


def test_every_rule_form_lands_with_source_digests(
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Callable[[LabRegistry], RegistryReader],
    tmp_path: Path,
) -> None:
    seed(source, image_set)
    s, d = source.host, dest.host
    multi = {tag: image_set.get("lab/multi", tag) for tag in ("list", "index", "oci", "nested")}
    config = sync_config(
        tmp_path / "config.yaml",
        {
            f"{s}/lab/app0": f"{d}/mirror/app0",
            f"{s}/lab/app1:v1,v2": f"{d}/mirror/app1:stable,previous",
            f"{s}/lab/multi:/^(list|index)$/": f"{d}/mirror/multi",
            f"{s}/lab/multi@{multi['nested'].digest}": f"{d}/mirror/pinned",
            f"{s}/lab/multi@{multi['oci'].digest}": f"{d}/mirror/pinned-tag:stable",
            f"{s}/lab/app2:v1": [f"{d}/mirror/app2", f"{d}/backup/app2", f"{d}/mirror/app2"],
            f"{s}/lab/large:v1": f"{d}/mirror/large",
        },
        s,
        d,
    )

    run = run_sync(config, "--output", "json")

    assert run.code == 0, run.err
    expected = [
        ("mirror/app0", "v1", image_set.get("lab/app0", "v1").digest),
        ("mirror/app0", "v2", image_set.get("lab/app0", "v2").digest),
        ("mirror/app1", "stable", image_set.get("lab/app1", "v1").digest),
        ("mirror/app1", "previous", image_set.get("lab/app1", "v2").digest),
        ("mirror/multi", "list", multi["list"].digest),
        ("mirror/multi", "index", multi["index"].digest),
        ("mirror/pinned", multi["nested"].digest, multi["nested"].digest),
        ("mirror/pinned-tag", "stable", multi["oci"].digest),
        ("mirror/app2", "v1", image_set.get("lab/app2", "v1").digest),
        ("backup/app2", "v1", image_set.get("lab/app2", "v1").digest),
        ("mirror/large", "v1", image_set.get("lab/large", "v1").digest),
    ]
    dst = reader(dest)
    for repo, ref, digest in expected:
        verify_image(dst, repo, ref, digest)
    # Only what the rules select: the regex and tag lists leave the other tags behind,
    # and a digest destination without a tag pushes by digest alone.
    assert dst.tags("mirror/multi") == ["index", "list"]
    assert dst.tags("mirror/app1") == ["previous", "stable"]
    assert dst.tags("mirror/pinned") == []
    assert dst.tags("mirror/pinned-tag") == ["stable"]
    # One result per image; the duplicate destination was copied once.
    results = run.results()
    assert len(results) == len(expected)
    assert {r["status"] for r in results} == {"synced"}
    assert sum(r["dest"] == f"{d}/mirror/app2:v1" for r in results) == 1
    tag_puts = [
        a
        for a in access_log(dest.server)
        if a.method == "PUT" and a.path == "/v2/mirror/app2/manifests/v1"
    ]
    assert len(tag_puts) == 1


def test_list_tags_asks_for_small_pages(source: LabRegistry, image_set: ImageSet) -> None:
    seed(
        source, image_set, "lab/multi:list", "lab/multi:oci", "lab/multi:index", "lab/multi:nested"
    )
    client = RegistryClient(source.host, insecure=True)
    try:
        tags = list(client.list_tags(Repository.parse(f"{source.host}/lab/multi"), page_size=2))
    finally:
        client.close()
    assert sorted(tags) == ["index", "list", "nested", "oci"]
    # distribution 2.8 ignores ?n= on tags/list (only _catalog pages there), so
    # one answer holds every tag; the Link-following itself is tested below.
    pages = [
        a.path
        for a in access_log(source.server)
        if a.method == "GET" and a.path.startswith("/v2/lab/multi/tags/list")
    ]
    assert pages == ["/v2/lab/multi/tags/list?n=2"]


class _PagedTags(BaseHTTPRequestHandler):
    """tags/list in pages of ``n`` with a relative ``Link`` (distribution 3 style)."""

    TAGS = ["a", "b", "c", "d", "e"]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        if url.path == "/v2/":
            return self._reply(b"{}", {})
        n, last = int(query["n"][0]), query.get("last", [""])[0]
        rest = [t for t in self.TAGS if t > last]
        page, more = rest[:n], rest[n:]
        headers = {}
        if more:
            headers["Link"] = f'</v2/lab/paged/tags/list?last={page[-1]}&n={n}>; rel="next"'
        self._reply(json.dumps({"name": "lab/paged", "tags": page}).encode(), headers)

    def _reply(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in {
            **headers,
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        }.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def test_list_tags_follows_link_pagination() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PagedTags)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    client = RegistryClient(host, insecure=True)
    try:
        tags = list(client.list_tags(Repository.parse(f"{host}/lab/paged"), page_size=2))
    finally:
        client.close()
        server.shutdown()
        server.server_close()
        thread.join()
    assert tags == ["a", "b", "c", "d", "e"]
    pages = [p for p in server.seen if "tags/list" in p]  # type: ignore[attr-defined]
    assert pages == [
        "/v2/lab/paged/tags/list?n=2",
        "/v2/lab/paged/tags/list?last=b&n=2",
        "/v2/lab/paged/tags/list?last=d&n=2",
    ]


@pytest.mark.parametrize("how", ["flags", "env", "flags-beat-env"])
def test_empty_destination_uses_default_registry_and_namespace(
    how: str,
    source: LabRegistry,
    dest: LabRegistry,
    image_set: ImageSet,
    run_sync: RunSync,
    reader: Callable[[LabRegistry], RegistryReader],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(source, image_set, "lab/app0:v1")
    images = write_config(tmp_path / "images.yaml", {f"{source.host}/lab/app0:v1": ""})
    auth = write_config(tmp_path / "auth.yaml", insecure(source.host, dest.host))
    flags: list[str] = []
    if how in ("env", "flags-beat-env"):
        # For the flags-beat-env case the environment names a registry nobody listens on.
        env_registry = dest.host if how == "env" else "127.0.0.1:9"
        monkeypatch.setenv("DEFAULT_REGISTRY", env_registry)
        monkeypatch.setenv("DEFAULT_NAMESPACE", "env-ns" if how == "env" else "wrong-ns")
    if how in ("flags", "flags-beat-env"):
        flags = ["--registry", dest.host, "--namespace", "flag-ns"]

    run = run_sync("--auth", auth, "--images", images, *flags)

    assert run.code == 0, run.err
    namespace = "env-ns" if how == "env" else "flag-ns"
    verify_image(reader(dest), f"{namespace}/app0", "v1", image_set.get("lab/app0", "v1").digest)
