"""Real container tools (Debian's ``buildah``, ``podman``) against loopback lab registries.

What works on the test machines (root in a VM: no ``CAP_SYS_RESOURCE``,
cgroup v1 with a v2 hierarchy beside it), found by trying:

* storage: a ``containers-storage`` of the caller's own, named by
  ``CONTAINERS_STORAGE_CONF``, with the ``vfs`` driver (no overlay mounts);
* registries: plain HTTP on 127.0.0.1 with ``--tls-verify=false``, and an
  empty ``registries.conf``, so the host's mirrors and short names play no part;
* running a binary: ``buildah run --isolation chroot``, which needs no OCI
  runtime and no cgroups. ``podman run`` fails here with crun ("cgroups in
  hybrid mode not supported"); with runc it needs ``--ulimit nofile=…`` and
  ``--ulimit nproc=…`` under the hard limits, so it is left out.

Each :class:`ContainerTools` has its own storage: one builds and pushes,
another pulls, so nothing pulled can come from the builder's local copy.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from tests.support.binaries import require_binary

#: What the test binary prints, so a run proves it is this image's binary.
GREETING = "hello from a mirrored image"
#: Seconds any one tool invocation may take.
TOOL_TIMEOUT = 120.0

_HELLO_C = f"""
#include <stdio.h>
int main(int argc, char **argv) {{
    printf("{GREETING}: %s\\n", argc > 1 ? argv[1] : "no argument");
    return 0;
}}
"""


def oci_arch() -> str:
    """This machine's architecture as OCI names it (``amd64``, ``arm64``)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def build_static_hello(into: Path) -> Path:
    """A statically linked binary that prints :data:`GREETING`: it runs in an empty image."""
    cc = require_binary("gcc")
    source = into / "hello.c"
    source.write_text(_HELLO_C)
    binary = into / "hello"
    subprocess.run(
        [cc, "-static", "-Os", "-o", str(binary), str(source)],
        check=True,
        capture_output=True,
        timeout=TOOL_TIMEOUT,
    )
    return binary


class ContainerTools:
    """buildah and podman with a storage, run directory and config of their own under ``root``."""

    def __init__(self, root: Path) -> None:
        self.buildah = require_binary("buildah")
        self.podman = require_binary("podman")
        self.root = root
        for sub in ("graph", "run", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        storage = root / "storage.conf"
        storage.write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "graph"}"\n'
            f'runroot = "{root / "run"}"\n'
        )
        registries = root / "registries.conf"
        registries.write_text("")
        engine = root / "containers.conf"
        engine.write_text(f'[engine]\ntmp_dir = "{root / "tmp"}"\n')
        self.env = {
            **os.environ,
            "CONTAINERS_STORAGE_CONF": str(storage),
            "CONTAINERS_REGISTRIES_CONF": str(registries),
            "CONTAINERS_CONF": str(engine),
            "TMPDIR": str(root / "tmp"),
        }

    def run(self, tool: str, *args: str) -> str:
        """Run ``buildah ARGS`` or ``podman ARGS``; its stdout, or an AssertionError with stderr."""
        binary = {"buildah": self.buildah, "podman": self.podman}[tool]
        result = subprocess.run(
            [binary, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"{tool} {' '.join(args)}:\n{result.stderr}"
        return result.stdout.strip()

    def image(self, tag: str, files: dict[Path, str], arch: str, fmt: str, **config: str) -> None:
        """Commit ``localhost/TAG`` from scratch with ``files`` (host: image path), in ``fmt``."""
        container = self.run("buildah", "from", "scratch")
        for source, target in files.items():
            self.run("buildah", "copy", container, str(source), target)
        options = [f"--{k}={v}" for k, v in config.items()]
        self.run("buildah", "config", "--os=linux", f"--arch={arch}", *options, container)
        self.run("buildah", "commit", "--format", fmt, "--rm", container, f"localhost/{tag}")

    def manifest_list(self, tag: str, members: list[tuple[str, str]]) -> None:
        """A manifest list ``localhost/TAG`` of local images, each ``(image, arch)``."""
        self.run("buildah", "manifest", "create", f"localhost/{tag}")
        for image, arch in members:
            self.run(
                "buildah",
                "manifest",
                "add",
                f"--arch={arch}",
                f"localhost/{tag}",
                f"containers-storage:localhost/{image}",
            )

    def push(self, tag: str, reference: str, list_format: str = "") -> None:
        """Push ``localhost/TAG`` to ``docker://REFERENCE`` over plain HTTP.

        With ``list_format`` (``v2s2`` for a Docker manifest list, ``oci`` for an
        OCI index) TAG is a manifest list, pushed with every image it holds.
        """
        target = [f"localhost/{tag}", f"docker://{reference}"]
        if list_format:
            self.run("buildah", "manifest", "push", "--all", "--tls-verify=false",
                     f"--format={list_format}", *target)  # fmt: skip
        else:
            self.run("buildah", "push", "--tls-verify=false", *target)

    def pull(self, reference: str) -> set[str]:
        """``podman pull`` over plain HTTP; the ``repo@digest`` names podman then records.

        An image pulled through a list is recorded under the list's digest and
        its own (``.Digest`` is per image, not per reference, so it is not used).
        """
        self.run("podman", "pull", "--quiet", "--tls-verify=false", reference)
        names = self.run(
            "podman",
            "image",
            "inspect",
            "--format",
            "{{range .RepoDigests}}{{.}} {{end}}",
            reference,
        )
        return set(names.split())

    def run_binary(self, reference: str, *argv: str) -> str:
        """Run ``ARGV`` in a container of the pulled image, isolated by chroot; its stdout."""
        container = self.run("buildah", "from", "--pull=never", reference)
        try:
            return self.run("buildah", "run", "--isolation", "chroot", container, "--", *argv)
        finally:
            self.run("buildah", "rm", container)
