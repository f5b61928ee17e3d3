"""Images built by buildah, mirrored by syncer, pulled by podman, and run: real tools end to end.

buildah builds a runnable image from scratch (a static binary) in Docker v2
and OCI formats, and a manifest list of it and an image for another
architecture, and pushes all three to a lab source registry. ``syncer sync``
mirrors the repository into one destination repository and ``syncer plan
--wait`` with two workers into another. Then podman, on a storage of its
own, pulls every mirrored tag from the destination; it must see the source's
digests, and the binary in each must run (``buildah run --isolation chroot``,
see tests/support/containers.py for what works on these machines).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from syncer.oci import mediatypes as mt
from tests.support.binaries import in_ci
from tests.support.containers import GREETING, ContainerTools, build_static_hello, oci_arch
from tests.support.processes import RunCli, WorkerFactory
from tests.support.registries import LabRegistry
from tests.support.scenario import write_json

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TAGS = ("docker", "oci", "list", "index")
#: How each tag is pushed: an image in its own format, or a list of them in this one.
LISTS = {"list": "v2s2", "index": "oci"}
_ACCEPT = ", ".join((mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST, mt.OCI_INDEX))


@pytest.fixture
def tools(tmp_path: Path) -> tuple[ContainerTools, ContainerTools]:
    """A builder and a puller, each with a storage of its own; chroot needs root."""
    if os.geteuid() != 0:
        message = "buildah run --isolation chroot needs root"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return ContainerTools(tmp_path / "builder"), ContainerTools(tmp_path / "puller")


def _seed(builder: ContainerTools, workdir: Path, source: LabRegistry) -> None:
    """``lab/hello:docker``, ``:oci``, and ``:list`` and ``:index`` of this arch and another."""
    hello = build_static_hello(workdir)
    note = workdir / "note.txt"
    note.write_text("an image for another architecture, never run here\n")
    arch = oci_arch()
    other = "arm64" if arch != "arm64" else "amd64"
    entrypoint = '["/hello"]'
    builder.image("hello:docker", {hello: "/hello"}, arch, "docker", entrypoint=entrypoint)
    builder.image("hello:oci", {hello: "/hello"}, arch, "oci", entrypoint=entrypoint)
    builder.image("hello:other", {note: "/note.txt"}, other, "oci")
    builder.manifest_list("hello:list", [("hello:oci", arch), ("hello:other", other)])
    builder.push("hello:docker", f"{source.host}/lab/hello:docker")
    builder.push("hello:oci", f"{source.host}/lab/hello:oci")
    for tag, list_format in LISTS.items():
        builder.push("hello:list", f"{source.host}/lab/hello:{tag}", list_format)


def _digest(registry: LabRegistry, repo: str, tag: str) -> tuple[str, str]:
    """``(digest, media type)`` of ``repo:tag`` by a HEAD request."""
    reply = requests.head(
        f"{registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": _ACCEPT}, timeout=10
    )
    assert reply.status_code == 200, (repo, tag, reply.status_code)
    return reply.headers["Docker-Content-Digest"], reply.headers["Content-Type"].split(";")[0]


def test_buildah_images_mirrored_by_sync_and_plan_pull_and_run_with_podman(
    tools: tuple[ContainerTools, ContainerTools],
    source: LabRegistry,
    dest: LabRegistry,
    workers: WorkerFactory,
    syncer_cli: RunCli,
    fleet_home: Path,
    tmp_path: Path,
) -> None:
    builder, puller = tools
    _seed(builder, tmp_path, source)
    seeded = {tag: _digest(source, "lab/hello", tag) for tag in TAGS}
    assert {kind for _, kind in seeded.values()} == {
        mt.DOCKER_MANIFEST,
        mt.OCI_MANIFEST,
        mt.DOCKER_MANIFEST_LIST,
        mt.OCI_INDEX,
    }, "buildah pushed the four formats"

    auth = {source.host: {"insecure": True}, dest.host: {"insecure": True}}
    config = write_json(
        fleet_home / "config.json",
        {"auth": auth, "images": {f"{source.host}/lab/hello": f"{dest.host}/mirror/hello"}},
    )
    embedded = syncer_cli("sync", config, "--cache", "none")
    assert embedded.code == 0, embedded
    assert "images: 4 synced" in embedded.out, embedded

    workers(2, auth=write_json(fleet_home / "worker-auth.json", auth))
    rules = write_json(
        fleet_home / "images.json", {f"{source.host}/lab/hello": f"{dest.host}/fleet/hello"}
    )
    planned = syncer_cli("plan", "--images", rules, "--wait", timeout=120)
    assert planned.code == 0, planned

    for repo in ("mirror/hello", "fleet/hello"):
        for tag in TAGS:
            assert _digest(dest, repo, tag) == seeded[tag], f"{repo}:{tag}"
            reference = f"{dest.host}/{repo}:{tag}"
            pulled = puller.pull(reference)
            assert f"{dest.host}/{repo}@{seeded[tag][0]}" in pulled, (reference, pulled)
            out = puller.run_binary(reference, "/hello", f"{repo}:{tag}")
            assert out == f"{GREETING}: {repo}:{tag}", reference
