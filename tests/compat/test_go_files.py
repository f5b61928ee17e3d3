"""Config files as image-syncer v1.5.5 decodes them, beside syncer.

From ``pkg/client/config.go``: ``openAndDecode`` picks the decoder by suffix and
decodes once (``encoding/json`` or ``gopkg.in/yaml.v2``), ``NewSyncConfig``
reads ``--config`` or ``--auth`` + ``--images`` into ``Config`` (``AuthList``
``map[string]types.Auth``, ``ImageList`` ``map[string]interface{}``); and
``pkg/client/client.go`` ``Run``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import Side, run_all, run_both
from tests.support.compat_cases import files
from tests.support.compat_rules import Servers

Source = tuple[RegistryServer, ImageSet]
AUTH = "SRC: {insecure: true}\nDST: {insecure: true}\n"
AUTH_JSON = json.dumps({"SRC": {"insecure": True}, "DST": {"insecure": True}})
IMAGES = "SRC/lab/app0:v1: DST/mirror/app0\n"
SPLIT = ["--auth", "auth.yaml", "--images", "images.yaml"]
LEGACY = ["--config", "config.yaml"]

#: (files, arguments, whether both copy mirror/app0:v1 (None: both exit 0, nothing
#: to copy; False: both refuse the run), the Go code the case follows)
CASES: dict[str, tuple[Mapping[str, str], list[str], bool | None, str]] = {
    "yml-suffix": (
        {"auth.yml": AUTH, "images.yml": IMAGES},
        ["--auth", "auth.yml", "--images", "images.yml"],
        True,
        "openAndDecode: .yml is YAML",
    ),
    "suffix-case": (
        {"auth.yaml": AUTH, "images.YAML": IMAGES},
        ["--auth", "auth.yaml", "--images", "images.YAML"],
        False,
        "openAndDecode: strings.HasSuffix is case-sensitive, .YAML is refused",
    ),
    "json-trailing-text": (
        {"auth.json": AUTH_JSON + "\n# not JSON", "images.yaml": IMAGES},
        ["--auth", "auth.json", "--images", "images.yaml"],
        True,
        "openAndDecode: json.Decoder.Decode reads the first value only",
    ),
    "yaml-second-document": (
        {"auth.yaml": AUTH + "---\n- other\n", "images.yaml": IMAGES + "---\n[broken\n"},
        SPLIT,
        True,
        "openAndDecode: yaml.Decoder.Decode reads the first document only",
    ),
    "images-only-comments": (
        {"auth.yaml": AUTH, "images.yaml": "# SRC/lab/app0:v1: DST/mirror/app0\n"},
        SPLIT,
        False,
        "openAndDecode: an empty YAML stream is io.EOF, an error",
    ),
    "images-empty-map": (
        {"auth.yaml": AUTH, "images.yaml": "{}\n"},
        SPLIT,
        None,
        "client.go Run: no rule, no task, 0 failed",
    ),
    "legacy-json-field-case": (
        {
            "config.json": json.dumps(
                {"AUTH": json.loads(AUTH_JSON), "Images": {"SRC/lab/app0:v1": "DST/mirror/app0"}}
            )
        },
        ["--config", "config.json"],
        True,
        "Config: encoding/json matches the auth and images fields in any case",
    ),
    "insecure-y": (
        {"auth.yaml": "SRC: {insecure: y}\nDST: {insecure: Y}\n", "images.yaml": IMAGES},
        SPLIT,
        True,
        "types.Auth.Insecure: yaml.v2 resolves y and Y to true",
    ),
    "yaml-merge-key": (
        {
            "auth.yaml": "x: &plain {insecure: true}\nSRC: *plain\nDST:\n  <<: *plain\n",
            "images.yaml": IMAGES,
        },
        SPLIT,
        True,
        "yaml.v2: anchors, aliases and << merge keys",
    ),
    "legacy-without-images": (
        {"config.yaml": "auth:\n  SRC: {insecure: true}\n"},
        LEGACY,
        None,
        "Config.ImageList left nil: client.go Run has no rule to run",
    ),
    "legacy-unknown-key": (
        {
            "config.yaml": "auth:\n  SRC: {insecure: true}\n  DST: {insecure: true}\n"
            f"mirror: 1\nimages:\n  {IMAGES}"
        },
        LEGACY,
        True,
        "Config: a key that is no field is ignored",
    ),
}


@pytest.fixture(scope="module")
def runs(
    shared_source: Source, dest_pool: Servers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Side, Side]]:
    """Both tools on every case (and on an empty auth file), the cases side by side."""
    root, host = tmp_path_factory.mktemp("go-files"), shared_source[0].host
    writers = {case: files(texts, args) for case, (texts, args, _, _) in CASES.items()}
    writers["empty-auth"] = files({"auth.yaml": "", "images.yaml": IMAGES}, SPLIT)
    return run_all(
        {
            case: partial(run_both, root / case, host, dest_pool.start, w)
            for case, w in writers.items()
        }
    )


@pytest.mark.parametrize("case", list(CASES))
def test_files_both_tools_read_alike(case: str, runs: dict[str, tuple[Side, Side]]) -> None:
    _, _, copies, go = CASES[case]
    oracle, ours = runs[case]
    if copies is False:
        assert oracle.code != 0 and ours.code == 2, (go, oracle, ours)
    else:
        assert oracle.ok and ours.ok, (go, oracle, ours)
    want = ["v1"] if copies else []
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == want, go
    if copies is None:
        assert "0 tasks failed" in str(oracle.finished_line()), oracle
        assert "0 tasks failed" in str(ours.finished_line()), ours


@pytest.mark.differs("an empty auth file is no credentials in syncer; image-syncer stops at EOF")
def test_an_empty_auth_file(runs: dict[str, tuple[Side, Side]]) -> None:
    """openAndDecode: yaml.v2 decodes an empty file as io.EOF and the run stops."""
    oracle, ours = runs["empty-auth"]
    assert oracle.code != 0 and "decode auth file auth.yaml error" in oracle.out, oracle
    assert oracle.tags("mirror/app0") == []
    assert ours.ok and ours.tags("mirror/app0") == ["v1"], ours
