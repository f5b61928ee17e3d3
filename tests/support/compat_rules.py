"""Shared set-up for the rule, regex, platform and auth-prefix compat cases.

Each of those files runs both tools *once* per scenario on an images file
holding many rules, each to its own destination repository, and then checks
every rule as its own test case: one run of image-syncer costs seconds, and
the compat suite must stay small. Registries here are module-scoped for the
same reason, so they are started directly rather than through the
function-scoped ``registry_factory``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.content import ImageSet, SeedImage
from lab.push import push_image_set
from lab.registry import RegistryServer
from lab.registry_config import HtpasswdAuth
from tests.support.compat import Side, Writer, run_both
from tests.support.registries import write_htpasswd
from tests.support.verify import RegistryReader


@dataclass
class Servers:
    """Starts registries for a module and stops them all at the end; thread-safe."""

    binary: str
    root: Path
    started: list[RegistryServer] = dataclasses.field(default_factory=list)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def start(
        self, users: Mapping[str, str] | None = None, tls: tuple[str, str] | None = None
    ) -> RegistryServer:
        """A fresh registry; with ``users``, behind HTTP Basic auth; with ``tls``, HTTPS."""
        with self._lock:
            workdir = self.root / f"registry{len(self.started)}"
            workdir.mkdir(parents=True)
            auth = None
            if users:
                auth = HtpasswdAuth(str(write_htpasswd(workdir / "htpasswd", dict(users))))
            server = RegistryServer(binary=self.binary, workdir=workdir, auth=auth, tls=tls)
            self.started.append(server)
        server.start()
        return server


@contextmanager
def servers(binary: str, root: Path) -> Iterator[Servers]:
    """A :class:`Servers` whose registries stop when the block ends."""
    pool = Servers(binary, root)
    try:
        yield pool
    finally:
        for server in pool.started:
            server.stop()


def retag(images: Iterable[SeedImage], repo: str, tags: Iterable[str]) -> list[SeedImage]:
    """The images again, one per tag, under ``repo``."""
    return [dataclasses.replace(i, repo=repo, tag=t) for i, t in zip(images, tags, strict=True)]


def seed(server: RegistryServer, images: Iterable[SeedImage]) -> None:
    """Push ``images`` into ``server``."""
    push_image_set(server.url, ImageSet(tuple(images)))


def yaml_files(
    images: Mapping[str, Any],
    auth: Mapping[str, Any] | None = None,
    *,
    extra: Iterable[str] = (),
    raw_auth: str | None = None,
    raw_images: str | None = None,
) -> Writer:
    """Write ``auth.yaml`` and ``images.yaml`` with SRC and DST replaced by the hosts."""

    def write(tmp: Path, src: str, dst: str) -> list[str]:
        def subst(text: str) -> str:
            return text.replace("SRC", src).replace("DST", dst)

        auth_text = raw_auth
        if auth_text is None:
            auth_text = yaml.safe_dump(
                dict(auth or {src: {"insecure": True}, dst: {"insecure": True}})
            )
        (tmp / "auth.yaml").write_text(subst(auth_text))
        images_text = raw_images or yaml.safe_dump(dict(images), sort_keys=False)
        (tmp / "images.yaml").write_text(subst(images_text))
        return ["--auth", "auth.yaml", "--images", "images.yaml", "--log", "run.log", *extra]

    return write


@dataclass
class Run:
    """One scenario's two sides and how to read their destinations."""

    oracle: Side
    ours: Side
    source: str
    auth: tuple[str, str] | None = None

    def sides(self) -> tuple[Side, Side]:
        """image-syncer's side, then syncer's."""
        return self.oracle, self.ours

    def tags(self, side: Side, repo: str) -> list[str]:
        """Sorted tags of ``repo`` at one side's destination."""
        with RegistryReader(side.dest.url, auth=self.auth) as reader:
            return sorted(reader.tags(repo))

    def digest(self, side: Side, repo: str, ref: str) -> str:
        """The manifest digest of ``repo:ref`` at one side's destination ("" if absent)."""
        with RegistryReader(side.dest.url, auth=self.auth) as reader:
            status, digest = reader.head_manifest(repo, ref)
        return digest if status == 200 else ""

    def both_tags(self, repo: str) -> tuple[list[str], list[str]]:
        """``(image-syncer's, syncer's)`` tags of ``repo``."""
        return self.tags(self.oracle, repo), self.tags(self.ours, repo)

    def reported(self, text: str) -> bool:
        """Whether syncer's output names ``text`` (SRC for the source host)."""
        return text.replace("SRC", self.source) in self.ours.out + self.ours.err + self.ours.log


def run_scenario(
    tmp: Path,
    source: RegistryServer,
    make_dest: Callable[[], RegistryServer],
    write: Writer,
    *,
    auth: tuple[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Run:
    """Run both tools once on a scenario."""
    oracle, ours = run_both(tmp, source.host, make_dest, write, env=env)
    return Run(oracle, ours, source.host, auth)


@contextmanager
def seeded_scenario(
    binary: str, root: Path, images: Iterable[SeedImage], write: Writer
) -> Iterator[Run]:
    """Both tools once on ``write``'s files, from a fresh source holding ``images``."""
    with servers(binary, root) as pool:
        source = pool.start()
        seed(source, images)
        yield run_scenario(root / "run", source, pool.start, write)
