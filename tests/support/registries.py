"""What the registry fixtures yield: a running lab registry and how to log in to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from lab.registry import RegistryServer, TokenAuth
from tests.support.certs import SelfSigned
from tests.support.token_issuer import TokenIssuer

#: ``registry_factory(**RegistryServer kwargs)``: a started registry, stopped at teardown.
RegistryFactory = Callable[..., RegistryServer]


@dataclass(frozen=True)
class LabRegistry:
    """A running registry with its credentials, CA certificate and token issuer if any."""

    server: RegistryServer
    username: str | None = None
    password: str | None = None
    #: The certificate to pass as ``verify=`` for a TLS registry.
    ca_cert: Path | None = None
    issuer: TokenIssuer | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return self.server.host

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return self.server.url

    @property
    def auth(self) -> tuple[str, str] | None:
        """``(username, password)`` for ``requests``, or None."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    @property
    def verify(self) -> bool | str:
        """What to pass as ``requests``' ``verify=``."""
        return str(self.ca_cert) if self.ca_cert else True


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    """Write bcrypt htpasswd entries (the only kind distribution accepts).

    Cost 5 instead of the default 12: the registry checks the hash on every
    request, and 12 would cost ~0.2 s of CPU each time.
    """
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
        for user, pw in users.items()
    ]
    path.write_text("".join(lines))
    return path


def token_registry_for(
    registry_factory: RegistryFactory, issuer: TokenIssuer, signer: SelfSigned, password: str
) -> LabRegistry:
    """Start a registry that trusts ``issuer``'s tokens (signed by ``signer``) for ``alice``."""
    auth = TokenAuth(
        realm=issuer.realm,
        service=issuer.service,
        issuer=issuer.issuer,
        rootcertbundle=str(signer.cert_path),
    )
    server = registry_factory(auth=auth)
    return LabRegistry(server, username="alice", password=password, issuer=issuer)
