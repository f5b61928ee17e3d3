"""Environment variables image-syncer v1.5.5 reads through Go and containers/image.

image-syncer's own code reads none (``DEFAULT_REGISTRY`` is syncer's, see
test_documented.py); its libraries read these. From Go's ``net/http``
``ProxyFromEnvironment`` (via containers/image ``pkg/tlsclientconfig``
``NewTransport``), Go's ``crypto/x509`` ``loadSystemRoots`` and containers/image
``docker/docker_client.go`` ``dockerCertDir`` + ``tlsclientconfig.SetupCertificates``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.certs import SelfSigned, make_self_signed
from tests.support.compat import Side, run_all, run_both
from tests.support.compat_cases import files, split
from tests.support.compat_rules import Servers
from tests.support.verify import RegistryReader

Source = tuple[RegistryServer, ImageSet]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}
#: Nothing listens on port 9 (discard) on the test machines: a dead proxy.
DEAD_PROXY = "http://127.0.0.1:9"


#: How each case makes the destination's private CA trusted: files to write (CA:
#: its certificate), environment, and the Go code that reads them.
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
IMAGES = "SRC/lab/app0:v1: DST/mirror/app0\n"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    """The TLS destinations' self-signed CA, which neither tool trusts by default."""
    return make_self_signed(tmp_path_factory.mktemp("ca"), "compat-ca")


@pytest.fixture(scope="module")
def runs(
    shared_source: Source,
    dest_pool: Servers,
    ca: SelfSigned,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Side, Side]]:
    """Both tools on every case, side by side."""
    root, host = tmp_path_factory.mktemp("go-env"), shared_source[0].host
    dead = {"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "http_proxy": DEAD_PROXY}
    jobs = {
        "proxy": partial(run_both, root / "proxy", host, dest_pool.start, split(RULES), env=dead)
    }
    pem = ca.cert_path.read_text()
    tls_dest = partial(dest_pool.start, tls=(str(ca.cert_path), str(ca.key_path)))
    for case, (texts, env, _) in TRUST.items():
        written = {name: pem if text == "CA" else text for name, text in texts.items()}
        written.update({"auth.yaml": "SRC: {insecure: true}\n", "images.yaml": IMAGES})
        writer = files(written, ["--auth", "auth.yaml", "--images", "images.yaml", "-r", "0"])
        jobs[case] = partial(run_both, root / case, host, tls_dest, writer, env=env)
    return run_all(jobs)


def test_loopback_is_never_proxied(runs: dict[str, tuple[Side, Side]]) -> None:
    """net/http ProxyFromEnvironment: requests to localhost and loopback go direct."""
    for side in runs["proxy"]:
        assert side.ok and side.tags("mirror/app0") == ["v1"], side


@pytest.mark.parametrize("case", list(TRUST))
def test_a_private_ca_image_syncer_trusts(
    case: str, runs: dict[str, tuple[Side, Side]], ca: SelfSigned
) -> None:
    """The destination speaks TLS with a private CA and the auth file says nothing of it."""
    go = TRUST[case][2]
    for side in runs[case]:
        assert side.ok, (go, side)
        with RegistryReader(side.dest.url, verify=str(ca.cert_path)) as reader:
            assert sorted(reader.tags("mirror/app0")) == ["v1"], (go, side.tool)
