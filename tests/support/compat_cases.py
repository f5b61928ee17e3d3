"""Writers for compat cases: the same files for both tools, with their own hosts.

``SRC`` and ``DST`` in any text become the source and that tool's destination
host, so one case reads like image-syncer's own example files.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.compat import Writer

#: Both registries over plain HTTP on loopback: image-syncer needs ``insecure`` for that.
INSECURE = {"SRC": {"insecure": True}, "DST": {"insecure": True}}
#: Where each login file sits under a tool's HOME (see tests.support.compat.isolated_env).
RUNTIME_AUTH = "home/run/containers/auth.json"
CONFIG_AUTH = "home/config/containers/auth.json"
DOCKER_CONFIG = "home/docker/config.json"


def login_file(user: str, password: str, key: str = "DST") -> str:
    """An auth.json / config.json with one ``auths`` entry."""
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {key: {"auth": encoded}}})


def swap(text: str, src: str, dst: str) -> str:
    """``text`` with the placeholder hosts filled in."""
    return text.replace("SRC", src).replace("DST", dst)


def dump(data: Any, name: str) -> str:
    """``data`` as the file ``name`` says (JSON or YAML)."""
    if name.endswith(".json"):
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False)


def split(
    images: Mapping[str, Any] | str,
    *,
    auth: Mapping[str, Any] | str | None = None,
    args: Sequence[str] = (),
    images_name: str = "images.yaml",
    auth_name: str = "auth.yaml",
    files: Mapping[str, str] | None = None,
) -> Writer:
    """``--auth auth.yaml --images images.yaml ARGS``; ``auth`` defaults to :data:`INSECURE`."""
    auth_data: Mapping[str, Any] | str = INSECURE if auth is None else auth

    def write(tmp: Path, src: str, dst: str) -> list[str]:
        texts = {
            images_name: images if isinstance(images, str) else dump(images, images_name),
            auth_name: auth_data if isinstance(auth_data, str) else dump(auth_data, auth_name),
            **(files or {}),
        }
        for name, text in texts.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(swap(text, src, dst))
        return ["--auth", auth_name, "--images", images_name, *(swap(a, src, dst) for a in args)]

    return write


def single(config: Mapping[str, Any] | str, name: str = "config.yaml") -> Writer:
    """image-syncer's legacy ``--config FILE`` with auth and images together."""

    def write(tmp: Path, src: str, dst: str) -> list[str]:
        text = config if isinstance(config, str) else dump(config, name)
        (tmp / name).write_text(swap(text, src, dst))
        return ["--config", name]

    return write


def files(texts: Mapping[str, str], args: Sequence[str]) -> Writer:
    """Any files as written (``SRC``/``DST`` filled in, in names too), and ``args``."""

    def write(tmp: Path, src: str, dst: str) -> list[str]:
        for name, text in texts.items():
            path = tmp / swap(name, src, dst)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(swap(text, src, dst))
        return [swap(a, src, dst) for a in args]

    return write
