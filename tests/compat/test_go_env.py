"""Environment variables image-syncer v1.5.5 reads through Go and containers/image.

image-syncer's own code reads none (``DEFAULT_REGISTRY`` is syncer's, see
test_documented.py); its libraries read these. From Go's ``net/http``
``ProxyFromEnvironment`` (via containers/image ``pkg/tlsclientconfig``
``NewTransport``), Go's ``crypto/x509`` ``loadSystemRoots`` and containers/image
``docker/docker_client.go`` ``dockerCertDir`` + ``tlsclientconfig.SetupCertificates``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.certs import SelfSigned, make_self_signed
from tests.support.compat import Side, run_both
from tests.support.compat_cases import files, split
from tests.support.registries import RegistryFactory
from tests.support.verify import RegistryReader

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}
#: Nothing listens on port 9 (discard) on the test machines: a dead proxy.
DEAD_PROXY = "http://127.0.0.1:9"


def test_loopback_is_never_proxied(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """net/http ProxyFromEnvironment: requests to localhost and loopback go direct."""
    env = {"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "http_proxy": DEAD_PROXY}
    oracle, ours = run_both(tmp_path, shared_source[0].host, make_dest, split(RULES), env=env)
    for side in (oracle, ours):
        assert side.ok and side.tags("mirror/app0") == ["v1"], side


@pytest.fixture
def ca(tmp_path: Path) -> SelfSigned:
    """The destination's self-signed CA, which neither tool trusts by default."""
    return make_self_signed(tmp_path, "compat-ca")


@pytest.fixture
def make_tls_dest(registry_factory: RegistryFactory, ca: SelfSigned) -> MakeDest:
    return lambda: registry_factory(tls=(str(ca.cert_path), str(ca.key_path)))


#: How each case makes the CA trusted: files to write, environment, and the Go code.
TRUST: dict[str, tuple[Mapping[str, str], Mapping[str, str], str]] = {
    "ssl-cert-file": (
        {"ca.pem": "CA"},
        {"SSL_CERT_FILE": "ca.pem"},
        "crypto/x509 loadSystemRoots: $SSL_CERT_FILE replaces the system bundle",
    ),
    "ssl-cert-dir": (
        {"cas/private.pem": "CA"},
        {"SSL_CERT_DIR": "/nonexistent:cas"},
        "crypto/x509 loadSystemRoots: every file of each $SSL_CERT_DIR directory",
    ),
    "certs-d": (
        {"home/.config/containers/certs.d/DST/ca.crt": "CA"},
        {},
        "docker_client.go dockerCertDir: ~/.config/containers/certs.d/HOST/*.crt",
    ),
}


@pytest.mark.parametrize("case", list(TRUST))
def test_a_private_ca_image_syncer_trusts(
    case: str, shared_source: Source, make_tls_dest: MakeDest, ca: SelfSigned, tmp_path: Path
) -> None:
    """The destination speaks TLS with a private CA and the auth file says nothing of it."""
    texts, env, go = TRUST[case]
    pem = ca.cert_path.read_text()
    written = {name: pem if text == "CA" else text for name, text in texts.items()}
    written.update(
        {
            "auth.yaml": "SRC: {insecure: true}\n",
            "images.yaml": "SRC/lab/app0:v1: DST/mirror/app0\n",
        }
    )
    writer = files(written, ["--auth", "auth.yaml", "--images", "images.yaml", "-r", "0"])
    oracle, ours = run_both(tmp_path, shared_source[0].host, make_tls_dest, writer, env=env)
    for side in (oracle, ours):
        assert side.ok, (go, side)
        assert _tls_tags(side, ca) == ["v1"], (go, side.tool)


def _tls_tags(side: Side, ca: SelfSigned) -> list[str]:
    with RegistryReader(side.dest.url, verify=str(ca.cert_path)) as reader:
        return sorted(reader.tags("mirror/app0"))
