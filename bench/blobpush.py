"""Seeding helpers the lab pusher lacks: streamed big blobs and thousands of tags.

:func:`push_streamed_image` pushes an image whose one layer is ``size`` seeded
random bytes without ever holding it in memory: the bytes go up in a
``PATCH`` stream while being hashed, and the ``PUT`` names the digest at the
end (distribution spec, "Pushing a blob in chunks" with a single chunk).
:func:`tag_many` puts one manifest under many tags with a thread pool;
:func:`push_small_tags` pushes many small images sharing one base layer.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests

from lab.content import Blob, Manifest, sha256
from lab.registry import LabError
from syncer.oci import mediatypes as mt

_PIECE = 1 << 20
_TIMEOUT = 600


def _expect(resp: requests.Response, status: int) -> None:
    if resp.status_code != status:
        raise LabError(f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:300]}")


def _random_pieces(seed: str, size: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    left = size
    while left > 0:
        n = min(_PIECE, left)
        left -= n
        yield rng.randbytes(n)


def _upload_url(session: requests.Session, base: str, repo: str) -> str:
    resp = session.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=_TIMEOUT)
    _expect(resp, 202)
    return urljoin(resp.url, resp.headers["Location"])


def _with_digest(location: str, digest: str) -> str:
    parts = urlsplit(location)
    query = "&".join(filter(None, [parts.query, urlencode({"digest": digest})]))
    return urlunsplit(parts._replace(query=query))


def push_streamed_blob(
    session: requests.Session, base: str, repo: str, seed: str, size: int
) -> str:
    """Upload ``size`` random bytes seeded by ``seed``; return their digest."""
    hasher = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for piece in _random_pieces(seed, size):
            hasher.update(piece)
            yield piece

    location = _upload_url(session, base, repo)
    resp = session.patch(
        location,
        data=body(),
        headers={"Content-Type": "application/octet-stream"},
        timeout=_TIMEOUT,
    )
    _expect(resp, 202)
    digest = "sha256:" + hasher.hexdigest()
    done = session.put(
        _with_digest(urljoin(resp.url, resp.headers["Location"]), digest), timeout=_TIMEOUT
    )
    _expect(done, 201)
    return digest


def _put_blob(session: requests.Session, base: str, repo: str, blob: Blob) -> None:
    location = _upload_url(session, base, repo)
    resp = session.put(
        _with_digest(location, blob.digest),
        data=blob.data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=_TIMEOUT,
    )
    _expect(resp, 201)


def _put_manifest(session: requests.Session, base: str, repo: str, ref: str, m: Manifest) -> None:
    resp = session.put(
        f"{base}/v2/{repo}/manifests/{ref}",
        data=m.body,
        headers={"Content-Type": m.media_type},
        timeout=_TIMEOUT,
    )
    _expect(resp, 201)


def _manifest(layers: list[tuple[str, int]], label: str) -> tuple[Blob, Manifest]:
    """A Docker v2 manifest over the given (digest, size) layers and a fresh config."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"org.syncer.bench": label}},
        # Not real diff_ids: registries and copiers never look inside layers.
        "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
    }
    data = json.dumps(config, sort_keys=True).encode()
    blob = Blob(sha256(data), len(data), mt.DOCKER_CONFIG, data)
    body = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": blob.descriptor(),
        "layers": [{"mediaType": mt.DOCKER_LAYER, "size": s, "digest": d} for d, s in layers],
    }
    raw = json.dumps(body, indent=3).encode()
    return blob, Manifest(mt.DOCKER_MANIFEST, raw, sha256(raw))


def push_streamed_image(base: str, repo: str, tag: str, seed: str, size: int) -> None:
    """Push ``repo:tag``: one streamed random layer of ``size`` bytes, plus its config."""
    with requests.Session() as session:
        digest = push_streamed_blob(session, base, repo, seed, size)
        config, manifest = _manifest([(digest, size)], f"{repo}:{tag}")
        _put_blob(session, base, repo, config)
        _put_manifest(session, base, repo, tag, manifest)


def _thread_session() -> Callable[[], requests.Session]:
    """A getter for one ``requests.Session`` per pool thread."""
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        s: requests.Session = local.session
        return s

    return session


def push_small_tags(
    base: str, repo: str, tags: list[str], *, seed: str, base_size: int, layer_size: int
) -> None:
    """Push ``repo:tag`` for each of ``tags``: one shared base layer, then a unique small layer."""
    shared = random.Random(f"{seed}:base").randbytes(base_size)
    base_blob = Blob(sha256(shared), len(shared), mt.DOCKER_LAYER, shared)
    with requests.Session() as s:
        _put_blob(s, base, repo, base_blob)
    session = _thread_session()

    def push(tag: str) -> None:
        data = random.Random(f"{seed}:{tag}").randbytes(layer_size)
        own = Blob(sha256(data), len(data), mt.DOCKER_LAYER, data)
        layers = [(base_blob.digest, base_blob.size), (own.digest, own.size)]
        config, manifest = _manifest(layers, f"{repo}:{tag}")
        for blob in (own, config):
            _put_blob(session(), base, repo, blob)
        _put_manifest(session(), base, repo, tag, manifest)

    with ThreadPoolExecutor(16) as ex:
        for fut in [ex.submit(push, t) for t in tags]:
            fut.result()


def tag_many(base: str, repo: str, tags: list[str], *, threads: int = 16) -> None:
    """Push one tiny image, then put its manifest bytes under every tag in ``tags``."""
    session = _thread_session()
    layer = b"syncer bench: one tiny layer shared by every tag\n"
    layer_blob = Blob(sha256(layer), len(layer), mt.DOCKER_LAYER, layer)
    config, manifest = _manifest([(layer_blob.digest, layer_blob.size)], repo)
    with requests.Session() as s:
        _put_blob(s, base, repo, layer_blob)
        _put_blob(s, base, repo, config)
    with ThreadPoolExecutor(threads) as ex:
        for fut in [
            ex.submit(lambda t: _put_manifest(session(), base, repo, t, manifest), t) for t in tags
        ]:
            fut.result()
