"""Malformed configs and references through the CLI: one exact reason, nothing written.

Every case runs ``syncer.cli.main(["sync", ...])`` in this process. A file
that cannot be read or parsed must exit 2 with exactly one line on stderr,
the one given here in full (it names the file and the key), no traceback,
nothing on stdout. A problem in one images or auth entry fails only that
rule's images, as in image-syncer: exit 1, the same one-line reason in the
report's failure line and the log. Either way there is no PUT, POST, PATCH or
DELETE at the destination registry, a real one that every case points at.
Extends ``tests/integration/test_bad_input.py`` with other inputs.

``SRC`` is a port where nothing listens (nothing may be contacted), ``DST``
the destination, ``TMP`` the case's directory.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.registry import RegistryServer
from syncer.cli.main import main
from tests.support.embedded import isolated_in_process
from tests.support.registries import LabRegistry
from tests.support.scenario import seed, small_image, write_json
from tests.support.verify import writes

pytestmark = [pytest.mark.faults, pytest.mark.integration]

SRC = "127.0.0.1:9"
DIGEST = "sha256:" + "0" * 64
LOOP = object()  # a symlink to itself
DIRECTORY = object()


@dataclass(frozen=True)
class Case:
    """Files to write (text, bytes, LOOP or DIRECTORY), the CLI arguments, the stderr line."""

    files: dict[str, object]
    args: list[str]
    line: str
    env: dict[str, str] = field(default_factory=dict)


def _images(name: str, text: object, line: str) -> Case:
    return Case({name: text}, ["--images", f"TMP/{name}"], line)


def _auth(text: str, line: str) -> Case:
    return Case(
        {"auth.yaml": text, "images.yaml": "SRC/lab/a:v1: DST/m/a\n"},
        ["--auth", "TMP/auth.yaml", "--images", "TMP/images.yaml"],
        line,
    )


def _rule(key: str, value: str, problem: str) -> Case:
    """One rule in images.yaml whose error is ``images["KEY"]: PROBLEM``."""
    return _images(
        "images.yaml",
        f"{key}: {value}\n",
        f'TMP/images.yaml: images["{key.strip(chr(39))}"]: {problem}',
    )


CASES: dict[str, Case] = {
    # -- broken files ------------------------------------------------------------
    "json-leading-garbage": _images(
        "images.json",
        'garbage {"x.io/a:v1": "y.io/m/a"}',
        "TMP/images.json: invalid JSON at line 1 column 1: Expecting value",
    ),
    "json-unterminated-string": Case(
        {"config.json": '{"images": {"x.io/a:v1": "y.io/m/a}}'},
        ["--config", "TMP/config.json"],
        "TMP/config.json: invalid JSON at line 1 column 26: Unterminated string starting at",
    ),
    "yaml-tab-indent": _images(
        "images.yaml",
        "SRC/lab/a:v1:\n\t- DST/m/a\n",
        "TMP/images.yaml: invalid YAML at line 2 column 1: "
        "found character '\\t' that cannot start any token",
    ),
    "yaml-unclosed-quote": _images(
        "images.yml",
        '"SRC/lab/a:v1: DST/m/a\n',
        "TMP/images.yml: invalid YAML at line 2 column 1: found unexpected end of stream",
    ),
    "not-utf8": _images(
        "images.yaml",
        b"\xff\xfeSRC: DST\n",
        "TMP/images.yaml: not UTF-8 text: invalid start byte at byte 0",
    ),
    "unreadable-symlink-loop": _images(
        "images.yaml", LOOP, "TMP/images.yaml: cannot read: Too many levels of symbolic links"
    ),
    "config-is-a-directory": Case(
        {"config.yaml": DIRECTORY},
        ["--config", "TMP/config.yaml"],
        "TMP/config.yaml: cannot read: Is a directory",
    ),
    "auth-file-missing": Case(
        {"images.yaml": "SRC/lab/a:v1: DST/m/a\n"},
        ["--auth", "TMP/auth.yaml", "--images", "TMP/images.yaml"],
        "TMP/auth.yaml: cannot read: No such file or directory",
    ),
    # -- wrong types -------------------------------------------------------------
    "legacy-config-is-a-list": Case(
        {"config.yaml": "- SRC/lab/a:v1\n"},
        ["--config", "TMP/config.yaml"],
        "TMP/config.yaml: expected a mapping with auth and images, got list",
    ),
    "images-is-a-list": _images(
        "images.yaml",
        "- SRC/lab/a:v1\n",
        "TMP/images.yaml: images: expected a mapping of sources, got list",
    ),
    "images-file-empty": _images(
        "images.yaml", "", "TMP/images.yaml: images: expected a mapping of sources, got null"
    ),
    "auth-is-a-list": _auth(
        "- DST\n", "TMP/auth.yaml: auth: expected a mapping of registries, got list"
    ),
}

#: A problem in one images entry or auth entry: that rule's images fail with
#: this reason, the run goes on and exits 1 (image-syncer fails the rule too).
ENTRY_CASES: dict[str, Case] = {
    "source-key-is-a-number": _images(
        "images.yaml",
        "123: DST/m/a\n",
        "TMP/images.yaml: images[123]: expected an image string, got int: quote it",
    ),
    "destination-is-a-number": _rule(
        "SRC/lab/a:v1", "5", "destination must be a string or a list of strings, got int"
    ),
    "destination-list-holds-a-mapping": _rule(
        "SRC/lab/a:v1",
        "[{repo: DST/m/a}]",
        "destination must be a string or a list of strings, got dict",
    ),
    # -- rule forms ----------------------------------------------------------------
    "regex-without-closing-slash": _rule(
        "SRC/lab/a:/^v1", "DST/m/a", "a tag regex must start and end with '/', as in repo:/regex/"
    ),
    "regex-unbalanced-parenthesis": _rule(
        "SRC/lab/a:/(v1/",
        "DST/m/a",
        "invalid regex '(v1': missing ): (v1",
    ),
    "one-source-tag-two-destination-tags": _rule(
        "SRC/lab/a:v1",
        "DST/m/a:x,y",
        'destination "DST/m/a:x,y": 1 source tag but 2 destination tags',
    ),
    "digest-too-short": _rule(
        "SRC/lab/a@sha256:abc123",
        "DST/m/a",
        "invalid digest 'sha256:abc123': sha256 needs 64 lowercase hex characters",
    ),
    "digest-uppercase": _rule(
        "SRC/lab/a@sha256:" + "A" * 64,
        "DST/m/a",
        f"invalid digest 'sha256:{'A' * 64}': sha256 needs 64 lowercase hex characters",
    ),
    "digest-unknown-algorithm": _rule(
        "SRC/lab/a@md5:" + "0" * 32,
        "DST/m/a",
        f"unsupported digest algorithm 'md5' in 'md5:{'0' * 32}'",
    ),
    "empty-source": _rule("''", "DST/m/a", "empty source"),
    "source-with-leading-space": _rule(
        "' SRC/lab/a:v1'", "DST/m/a", "source has leading or trailing whitespace"
    ),
    "empty-first-tag": _rule("SRC/lab/a:,v1", "DST/m/a", "empty tag in 'SRC/lab/a:,v1'"),
    "regex-lookahead": _rule(
        "SRC/lab/a:/^v(?=1)/", "DST/m/a", "invalid regex '^v(?=1)': invalid perl operator: (?="
    ),
    "destination-digest-on-two-tags": _rule(
        "SRC/lab/a:v1,v2",
        f"DST/m/a@{DIGEST}",
        f'destination "DST/m/a@{DIGEST}": 2 source tags but one destination digest',
    ),
    "destination-from-unset-variable": _rule(
        "SRC/lab/a:v1",
        "$SYNCER_FAULTS_UNSET/m/a",
        "destination \"$SYNCER_FAULTS_UNSET/m/a\": invalid repository name '/m/a': "
        "component '' must be lowercase letters, digits and separators "
        "($SYNCER_FAULTS_UNSET not set)",
    ),
    # -- auth entries ----------------------------------------------------------------
    "auth-password-is-a-list": _auth(
        "DST:\n  username: alice\n  password: [1234]\n",
        'TMP/auth.yaml: auth["DST"].password: expected a string, got list: quote it',
    ),
    "auth-max-connections-zero": _auth(
        "DST:\n  max_connections: 0\n",
        'TMP/auth.yaml: auth["DST"].max_connections: expected a positive integer, got 0',
    ),
    "auth-max-connections-on-a-namespace": Case(
        {
            "auth.yaml": "DST/team:\n  max_connections: 2\n",
            "images.yaml": "SRC/lab/a:v1: DST/team/a\n",
        },
        ["--auth", "TMP/auth.yaml", "--images", "TMP/images.yaml"],
        'TMP/auth.yaml: auth["DST/team"].max_connections: '
        "only a registry host can limit connections",
    ),
}


@pytest.fixture(scope="module")
def target(registry_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRegistry]:
    """One real destination registry for the whole table; it must never be written to."""
    server = RegistryServer(binary=registry_binary, workdir=tmp_path_factory.mktemp("target"))
    server.start()
    try:
        yield LabRegistry(server)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No docker config or defaults from the user; the root logger put back afterwards."""
    with isolated_in_process(monkeypatch, tmp_path, "SYNCER_FAULTS_UNSET"):
        yield


def _fill(text: str, tmp: Path, dst: str) -> str:
    return text.replace("TMP", str(tmp)).replace("SRC", SRC).replace("DST", dst)


def _write(tmp: Path, files: dict[str, object], dst: str) -> None:
    for name, content in files.items():
        path = tmp / name
        if content is LOOP:
            os.symlink(path, path)
        elif content is DIRECTORY:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(_fill(str(content), tmp, dst))


def _prepared(case: Case, tmp: Path, dst: str) -> tuple[Case, list[str]]:
    """Write ``case``'s files under ``tmp``; the case and its command line, filled in."""
    _write(tmp, case.files, dst)
    return case, [_fill(a, tmp, dst) for a in case.args]


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
def test_bad_input_is_one_exact_line_and_exit_2(
    name: str, target: LabRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case, args = _prepared(CASES[name], tmp_path, target.host)

    code = main(["sync", *args, "--cache", "none"])
    out, err = capsys.readouterr()

    assert code == 2, err
    assert err.splitlines() == ["syncer: error: " + _fill(case.line, tmp_path, target.host)]
    assert "Traceback" not in out + err and out == ""
    assert str(tmp_path) in err  # names the file
    assert writes(target.server) == []


@pytest.mark.parametrize("name", ENTRY_CASES, ids=list(ENTRY_CASES))
def test_bad_entry_fails_its_rule_with_one_exact_reason(
    name: str, target: LabRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case, args = _prepared(ENTRY_CASES[name], tmp_path, target.host)
    start = time.monotonic()

    code = main(["sync", *args, "--cache", "none"])
    out, err = capsys.readouterr()

    reason = _fill(case.line, tmp_path, target.host)
    assert code == 1, err
    report = [line for line in out.splitlines() if " -> " in line and line.endswith(": " + reason)]
    assert len(report) == 1, out
    assert [line for line in err.splitlines() if "ERROR failed" in line and reason in line], err
    assert "images: 0 synced, 0 skipped, 1 failed (of 1)" in out
    assert "Traceback" not in out + err
    assert writes(target.server) == []
    assert time.monotonic() - start < 10  # failed before any network call


def test_unknown_top_level_key_is_only_a_warning(
    target: LabRegistry,
    open_registry: LabRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = small_image(63)
    seed(open_registry, [image])
    src, dst = open_registry.host, target.host
    config = write_json(
        tmp_path / "config.json",
        {
            "auth": {src: {"insecure": True}, dst: {"insecure": True}},
            "images": {f"{src}/lab/app0:v1": f"{dst}/mirror/app0"},
            "mirrors": ["ignored"],
        },
    )

    code = main(["sync", "--config", str(config), "--dry-run", "--cache", "none"])
    out, err = capsys.readouterr()

    assert code == 0, err
    warning = re.compile(
        rf"^\d\d:\d\d:\d\d WARNING {re.escape(str(config))}: "
        r'ignoring unknown top-level key "mirrors"$'
    )
    assert [line for line in err.splitlines() if warning.match(line)], err
    assert [line for line in err.splitlines() if "WARNING" in line and "mirrors" in line] != []
    assert "Traceback" not in out + err
    assert f"{dst}/mirror/app0:v1" in out
    assert writes(target.server) == []
