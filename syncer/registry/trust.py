"""Which certificate authorities a verified connection trusts: image-syncer's, and requests'.

image-syncer is Go on containers/image, so it trusts, for a registry ``host[:port]``:

- the system roots as Go reads them: ``$SSL_CERT_FILE``, else the first of the
  usual bundle files that exists; plus every file of ``$SSL_CERT_DIR``
  (``:``-separated), else of ``/etc/ssl/certs`` and ``/etc/pki/tls/certs``;
- the ``*.crt`` files of the registry's own ``certs.d`` directory, the first of
  ``~/.config/containers/certs.d/HOST``, ``/etc/containers/certs.d/HOST`` and
  ``/etc/docker/certs.d/HOST`` that exists (``docker/docker_client.go``).

A private registry trusted that way must stay trusted when the binary is
swapped, so syncer trusts the same, and also requests' own
``$REQUESTS_CA_BUNDLE`` and ``$CURL_CA_BUNDLE``. The certificates are gathered
into one PEM file per distinct set (requests takes a path), written once per
process and removed at exit. With none of these present, requests' default
(certifi) stays.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Go's certificate bundle files on Linux (crypto/x509/root_linux.go), first found wins.
GO_CERT_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)
#: Go's certificate directories on Linux, every file of each read.
GO_CERT_DIRS = ("/etc/ssl/certs", "/etc/pki/tls/certs")
#: containers/image's per-registry directories, after ``~/.config/containers/certs.d``.
SYSTEM_CERTS_D = ("/etc/containers/certs.d", "/etc/docker/certs.d")

_BEGIN, _END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
_lock = threading.Lock()
#: PEM file written for each distinct list of source files (True: none held a certificate).
_bundles: dict[tuple[str, ...], str | bool] = {}
#: What :func:`verify_for` answered for each host.
_answers: dict[str, str | bool] = {}


def verify_for(host: str) -> str | bool:
    """``verify=`` for a verified connection to ``host``: a PEM file, or True for certifi."""
    with _lock:
        if host not in _answers:
            sources = tuple(str(p) for p in _sources(host))
            if sources not in _bundles:
                blocks = _certificates(sources)
                _bundles[sources] = _write_bundle(blocks) if blocks else True
            _answers[host] = _bundles[sources]
        return _answers[host]


def _sources(host: str) -> Iterator[Path]:
    """Every file that may hold a certificate ``host`` is trusted by."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(name):
            yield from _files(Path(os.environ[name]))
    env_file = os.environ.get("SSL_CERT_FILE")
    files = [env_file] if env_file else GO_CERT_FILES
    found = next((Path(f) for f in files if Path(f).is_file()), None)
    if found is not None:
        yield found
    env_dirs = os.environ.get("SSL_CERT_DIR")
    for directory in env_dirs.split(":") if env_dirs else GO_CERT_DIRS:
        if directory:
            yield from _files(Path(directory))
    certs_d = host_certs_dir(host)
    if certs_d is not None:
        yield from (p for p in _files(certs_d) if p.suffix == ".crt")


def host_certs_dir(host: str) -> Path | None:
    """The registry's ``certs.d`` directory, as containers/image picks it, if any."""
    roots = [Path.home() / ".config" / "containers" / "certs.d", *map(Path, SYSTEM_CERTS_D)]
    for root in roots:
        directory = root / host
        try:
            if directory.is_dir():
                return directory
        except OSError:  # no permission: containers/image moves on too
            continue
    return None


def _files(path: Path) -> list[Path]:
    """``path`` if a file, else the files in it, sorted; nothing when unreadable."""
    try:
        if path.is_file():
            return [path]
        return sorted(p for p in path.iterdir() if p.is_file())
    except OSError:
        return []


def _certificates(paths: Iterable[str]) -> list[str]:
    """Every PEM certificate block in ``paths``, once each, in order; other content skipped."""
    seen: dict[str, None] = {}
    for path in paths:
        try:
            text = Path(path).read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        start = text.find(_BEGIN)
        while start >= 0:
            end = text.find(_END, start)
            if end < 0:
                break
            seen.setdefault(text[start : end + len(_END)], None)
            start = text.find(_BEGIN, end)
    return list(seen)


def _write_bundle(blocks: list[str]) -> str:
    """One PEM file holding ``blocks``, removed when the process exits."""
    fd, name = tempfile.mkstemp(prefix="syncer-ca-", suffix=".pem")
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write("\n".join(blocks) + "\n")
    atexit.register(_remove, name, os.getpid())
    return name


def _remove(name: str, owner: int) -> None:
    """Remove ``name``, in the process that wrote it only (a forked worker shares it)."""
    if os.getpid() != owner:
        return
    try:
        os.unlink(name)
    except OSError:
        pass
