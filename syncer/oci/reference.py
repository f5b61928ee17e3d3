"""Image references: the one parser, and the one place that builds registry URLs.

The grammar follows distribution's ``reference`` package
(https://github.com/distribution/reference/blob/main/reference.go):
the first path component is a registry host when it contains ``.`` or ``:``
or is ``localhost``; otherwise the reference is on Docker Hub, where
single-component names live under ``library/``.

An OCI image layout directory or an OCI archive is named with skopeo's
transport names, ``oci:/abs/dir`` and ``oci-archive:/abs/file.tar``: a
:class:`Repository` whose ``registry`` is the transport and whose ``path`` is
the file-system path. As in skopeo (containers/image ``oci/layout``), the
first ``:`` after the transport ends the path, so ``oci:/mnt/usb/proxy:v1``
is tag ``v1`` of the layout ``/mnt/usb/proxy``; a layout path therefore never
holds ``:``, nor ``@`` (which starts a digest) nor ``,`` (which lists tags).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from syncer.errors import BadNameError, ConfigError
from syncer.text import shown

DOCKER_HUB = "docker.io"
# Docker Hub's registry API is not served at docker.io itself.
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
# ASCII only, like distribution's grammar (Python's \w would admit Unicode).
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: Characters of a bad tag a message shows: a valid one is at most 128.
TAG_SHOWN = 130
#: Characters of a bad digest a message shows: a valid sha512 one is 135.
DIGEST_SHOWN = 160
_DIGEST = re.compile(r"(?P<alg>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)")
_DIGEST_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}

#: skopeo's transport names: an OCI image layout directory, and a tar of one.
LAYOUT = "oci"
ARCHIVE = "oci-archive"
LAYOUT_TRANSPORTS = (LAYOUT, ARCHIVE)
_MAX_LAYOUT_PATH = 1024
_NOT_IN_LAYOUT_PATH = frozenset(":@,\\")


def split_transport(text: str) -> tuple[str, str]:
    """``("oci:", "/dir:tag")`` for a layout or archive reference; ``("", text)`` otherwise."""
    for transport in LAYOUT_TRANSPORTS:
        if text.startswith(transport + ":"):
            return transport + ":", text[len(transport) + 1 :]
    return "", text


def layout_path(path: str, text: str) -> str:
    """Return ``path`` if it is an absolute, normalised path a layout may live at."""
    where = f"invalid layout path in {shown(text)!r}"
    if not path.startswith("/") or path == "/" or len(path) > _MAX_LAYOUT_PATH:
        raise ConfigError(f"{where}: the path must be absolute, below /, and short")
    bad = sorted({ch for ch in path if ch in _NOT_IN_LAYOUT_PATH or not ch.isprintable()})
    if bad:
        raise ConfigError(f"{where}: {shown(''.join(bad))!r} cannot appear in a layout path")
    if any(part in ("", ".", "..") for part in path[1:].split("/")):
        raise ConfigError(f"{where}: no empty, '.' or '..' components, no trailing '/'")
    return path


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed, supported content digest."""
    # A server's header may be 64 KiB of anything: messages show it escaped and clipped.
    bad = f"'{shown_digest(digest)}'"
    m = _DIGEST.fullmatch(digest)
    if not m:
        raise ConfigError(f"invalid digest {bad}")
    alg, hexpart = m.group("alg"), m.group("hex")
    want = _DIGEST_HEX_LEN.get(alg)
    if want is None:
        raise ConfigError(f"unsupported digest algorithm '{shown(alg, 40)}' in {bad}")
    if len(hexpart) != want or not re.fullmatch(r"[0-9a-f]+", hexpart):
        raise ConfigError(f"invalid digest {bad}: {alg} needs {want} lowercase hex characters")
    return digest


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag."""
    if not TAG_RE.fullmatch(tag):
        raise ConfigError(f"invalid tag {tag!r}")
    return tag


def shown_tag(tag: str) -> str:
    """A tag a server listed, for a message: escaped, and clipped past a valid tag's length."""
    return shown(tag, TAG_SHOWN)


def shown_digest(digest: str) -> str:
    """A digest a server sent, for a message: escaped, and clipped past a valid one's length."""
    return shown(digest, DIGEST_SHOWN)


def server_tag(tag: str, repo: Repository) -> str:
    """Return ``tag``, as listed by ``repo``'s registry, if it is a valid tag.

    A server's tag reaches URLs and reports only through here; a bad one is a
    :class:`BadNameError` whose message carries the tag escaped.
    """
    if not TAG_RE.fullmatch(tag):
        bad = shown_tag(tag)
        raise BadNameError(f'{repo}: the registry listed an invalid tag "{bad}"; skipped')
    return tag


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def normalize_registry(host: str) -> str:
    """Return ``host`` if it is a registry host; Docker Hub aliases become ``docker.io``.

    Like a reference's first component, a host needs a ``.`` or ``:`` or must be
    ``localhost``: ``library`` is a Docker Hub namespace, not a registry.
    """
    if not _is_host(host) or not _HOST.fullmatch(host):
        raise ConfigError(f"invalid registry host {host!r}")
    return DOCKER_HUB if host.lower() in _HUB_ALIASES else host


@dataclass(frozen=True, slots=True)
class Repository:
    """A repository on a registry, e.g. ``docker.io/library/nginx``."""

    registry: str
    path: str

    @classmethod
    def parse(cls, text: str) -> Repository:
        """Parse ``[registry/]path`` with Docker Hub normalisation, or ``oci:/dir``."""
        if not text or text != text.strip():
            raise ConfigError(f"invalid repository {text!r}")
        transport, local = split_transport(text)
        if transport:
            return cls(transport[:-1], layout_path(local, text))
        parts = text.split("/")
        if len(parts) > 1 and _is_host(parts[0]):
            registry, rest = parts[0], parts[1:]
            if not _HOST.fullmatch(registry):
                raise ConfigError(f"invalid registry host {registry!r} in {text!r}")
        else:
            registry, rest = DOCKER_HUB, parts
        if registry.lower() in _HUB_ALIASES:
            registry = DOCKER_HUB
            if len(rest) == 1:
                rest = ["library", *rest]
        for comp in rest:
            if not _COMPONENT.fullmatch(comp):
                raise ConfigError(
                    f"invalid repository name {text!r}: component {comp!r} must be "
                    "lowercase letters, digits and separators"
                )
        path = "/".join(rest)
        if len(path) > 255:
            raise ConfigError(f"invalid repository name {text!r}: longer than 255 characters")
        return cls(registry, path)

    @property
    def is_layout(self) -> bool:
        """Whether this names an OCI image layout or archive on disk, not a registry."""
        return self.registry in LAYOUT_TRANSPORTS

    @property
    def api_host(self) -> str:
        """The host that serves the registry API."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """The last path component, e.g. ``nginx``."""
        return self.path.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        if self.is_layout:
            return f"{self.registry}:{self.path}"
        return f"{self.registry}/{self.path}"

    # URL paths, relative to the registry's base URL (spec: "Endpoints").
    def manifest_path(self, reference: str) -> str:
        """``/v2/<name>/manifests/<reference>``."""
        return f"/v2/{self.path}/manifests/{quote(reference, safe=':')}"

    def blob_path(self, digest: str) -> str:
        """``/v2/<name>/blobs/<digest>``."""
        return f"/v2/{self.path}/blobs/{digest}"

    def upload_path(self) -> str:
        """``/v2/<name>/blobs/uploads/``: the start of a blob upload."""
        return f"/v2/{self.path}/blobs/uploads/"

    def tags_path(self) -> str:
        """``/v2/<name>/tags/list``."""
        return f"/v2/{self.path}/tags/list"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image: a repository plus a tag, a digest, or both."""

    repo: Repository
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse ``[registry/]path[:tag][@digest]``."""
        name, digest = text, None
        if "@" in text:
            name, digest = text.split("@", 1)
            validate_digest(digest)
        tag = None
        slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
            validate_tag(tag)
        return cls(Repository.parse(name), tag, digest)

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if known, else the tag."""
        ref = self.digest or self.tag
        if ref is None:
            raise ConfigError(f"{self} has neither tag nor digest")
        return ref

    def with_tag(self, tag: str | None) -> ImageRef:
        """The same repository with another tag and no digest."""
        return ImageRef(self.repo, tag, None)

    def __str__(self) -> str:
        out = str(self.repo)
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out
