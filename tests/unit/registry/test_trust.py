"""Which CAs a verified connection trusts: Go's system roots, certs.d, requests' variables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.registry import trust
from tests.support.certs import make_self_signed

HOST = "reg.example:5000"


@pytest.fixture(autouse=True)
def no_system(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No system roots, an empty HOME, no CA variables, and fresh caches."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(trust, "GO_CERT_FILES", (str(tmp_path / "system.pem"),))
    monkeypatch.setattr(trust, "GO_CERT_DIRS", (str(tmp_path / "system.d"),))
    monkeypatch.setattr(trust, "SYSTEM_CERTS_D", (str(tmp_path / "etc-docker-certs.d"),))
    monkeypatch.setattr(trust, "_answers", {})
    monkeypatch.setattr(trust, "_bundles", {})
    yield


def pem(directory: Path, name: str) -> str:
    """A CA certificate's PEM text, also written to ``directory/name``."""
    directory.mkdir(parents=True, exist_ok=True)
    text = make_self_signed(directory, name).cert_path.read_text()
    (directory / name).write_text(text)
    return text.strip()


def bundle(host: str = HOST) -> str:
    found = trust.verify_for(host)
    assert isinstance(found, str), found
    return Path(found).read_text()


def test_nothing_to_add_keeps_requests_default() -> None:
    assert trust.verify_for(HOST) is True


def test_go_system_roots_are_trusted(tmp_path: Path) -> None:
    """crypto/x509 on Linux: the first bundle file that exists, and every file of the dirs."""
    system = pem(tmp_path, "system.pem")
    extra = pem(tmp_path / "system.d", "local.crt")
    (tmp_path / "system.d" / "notes.txt").write_text("not a certificate")
    text = bundle()
    assert system in text and extra in text and "not a certificate" not in text


def test_ssl_cert_file_and_dir_replace_the_system_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = pem(tmp_path, "system.pem")
    mine = pem(tmp_path / "mine", "ca.pem")
    other = pem(tmp_path / "other", "ca.pem")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "mine" / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", f"{tmp_path / 'nowhere'}:{tmp_path / 'other'}")
    text = bundle()
    assert mine in text and other in text and system not in text


def test_the_registrys_certs_d_adds_its_crt_files_first_dir_wins(tmp_path: Path) -> None:
    """docker/docker_client.go: ~/.config/containers/certs.d, then /etc/containers, /etc/docker."""
    user = pem(tmp_path / "home/.config/containers/certs.d" / HOST, "ca.crt")
    (tmp_path / "home/.config/containers/certs.d" / HOST / "client.cert").write_text(user)
    skipped = pem(tmp_path / "etc-docker-certs.d" / HOST, "ca.crt")
    text = bundle()
    assert user in text and skipped not in text
    assert trust.verify_for("other.example") is True


def test_requests_variables_are_trusted_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = pem(tmp_path / "req", "bundle.pem")
    system = pem(tmp_path, "system.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "req" / "bundle.pem"))
    text = bundle()
    assert bundled in text and system in text


def test_one_file_per_set_of_sources(tmp_path: Path) -> None:
    pem(tmp_path, "system.pem")
    assert trust.verify_for("a.example") == trust.verify_for("b.example")
    pem(tmp_path / "etc-docker-certs.d" / "c.example", "ca.crt")
    assert trust.verify_for("c.example") != trust.verify_for("a.example")
