"""Bad config through the CLI: nothing written, and one line that says why.

A file that cannot be read or parsed is exit 2 with one ``syncer: error:``
line; a problem in one entry fails that rule's images (exit 1), as in image-syncer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.embedded import Run, RunSync, write_config
from tests.support.registries import LabRegistry
from tests.support.scenario import insecure
from tests.support.verify import writes

pytestmark = pytest.mark.integration

#: Writes a case's files into a directory, given the source and destination hosts;
#: returns the CLI arguments and the texts the error line must contain.
Case = Callable[[Path, str, str], tuple[list[str], list[str]]]


def _images_file(name: str, text: str) -> Case:
    def make(tmp: Path, s: str, d: str) -> tuple[list[str], list[str]]:
        path = tmp / name
        path.write_text(text.replace("SRC", s).replace("DST", d))
        return ["--images", str(path)], [name]

    return make


def _images(mapping: dict[str, str], *expect: str) -> Case:
    def make(tmp: Path, s: str, d: str) -> tuple[list[str], list[str]]:
        data = {k.replace("SRC", s): v.replace("DST", d) for k, v in mapping.items()}
        path = write_config(tmp / "images.yaml", data)
        return ["--images", str(path)], ["images.yaml", *(e.replace("SRC", s) for e in expect)]

    return make


def _auth_insecure_yes(tmp: Path, s: str, d: str) -> tuple[list[str], list[str]]:
    auth = write_config(tmp / "auth.yaml", {d: {"insecure": "yes"}})
    images = write_config(tmp / "images.yaml", {f"{s}/lab/app0:v1": f"{d}/mirror/app0"})
    return ["--auth", str(auth), "--images", str(images)], [
        "auth.yaml",
        f'auth["{d}"].insecure',
        "expected a boolean",
    ]


def _directory(tmp: Path, s: str, d: str) -> tuple[list[str], list[str]]:
    (tmp / "images.yaml").mkdir()
    return ["--images", str(tmp / "images.yaml")], ["images.yaml", "cannot read"]


def _missing(tmp: Path, s: str, d: str) -> tuple[list[str], list[str]]:
    return ["--config", str(tmp / "nowhere.json")], ["nowhere.json", "cannot read"]


CASES: dict[str, Case] = {
    "malformed-json": _images_file("images.json", '{"SRC/lab/app0": "DST/mirror/app0",}'),
    "malformed-yaml": _images_file("images.yaml", "SRC/lab/app0: [DST/mirror/app0\n"),
    "unknown-extension": _images_file("images.txt", "SRC/lab/app0: DST/mirror/app0\n"),
    "directory": _directory,
    "missing-file": _missing,
}


#: A problem in one entry: that rule fails, with one line naming it; exit 1.
ENTRY_CASES: dict[str, Case] = {
    "tag-count-mismatch": _images(
        {"SRC/lab/app0:v1,v2": "DST/mirror/app0:only"},
        '"SRC/lab/app0:v1,v2"',
        "2 source tags but 1 destination tag",
    ),
    "invalid-reference": _images(
        {"SRC/lab/App0:v1": "DST/mirror/app0"}, '"SRC/lab/App0:v1"', "invalid repository name"
    ),
    "invalid-regex": _images(
        {"SRC/lab/app0:/[/": "DST/mirror/app0"}, '"SRC/lab/app0:/[/"', "invalid regex"
    ),
    "insecure-yes": _auth_insecure_yes,
}


def _run_case(
    case: Case, registry: LabRegistry, run_sync: RunSync, tmp_path: Path
) -> tuple[Run, list[str]]:
    """Write ``case``'s files and run ``syncer sync`` on them; the run and the texts expected.

    Any source works: nothing may be contacted. The destination is a real registry.
    """
    args, expect = case(tmp_path, "127.0.0.1:9", registry.host)
    return run_sync(*args), expect


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_config_is_one_line_and_exit_2(
    case: str,
    open_registry: LabRegistry,
    run_sync: RunSync,
    tmp_path: Path,
) -> None:
    run, expect = _run_case(CASES[case], open_registry, run_sync, tmp_path)

    assert run.code == 2
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("syncer: error: ")
    for text in expect:
        assert text in lines[0], (text, lines[0])
    assert "Traceback" not in run.err + run.out
    assert run.out == ""
    assert writes(open_registry.server) == []


@pytest.mark.parametrize("case", ENTRY_CASES, ids=list(ENTRY_CASES))
def test_bad_entry_fails_its_rule_and_exit_1(
    case: str,
    open_registry: LabRegistry,
    run_sync: RunSync,
    tmp_path: Path,
) -> None:
    run, expect = _run_case(ENTRY_CASES[case], open_registry, run_sync, tmp_path)

    assert run.code == 1, run.err
    failures = [line for line in run.out.splitlines() if " -> " in line]
    assert len(failures) == 1, run.out
    for text in expect:
        assert text in failures[0], (text, failures[0])
    assert "1 failed (of 1)" in run.out
    assert "Traceback" not in run.err + run.out
    assert writes(open_registry.server) == []


def test_format_errors_say_where(tmp_path: Path, run_sync: RunSync) -> None:
    """The JSON and YAML parse errors name the line and column."""
    bad_json = tmp_path / "images.json"
    bad_json.write_text('{\n  "a": 1,\n}\n')
    bad_yaml = tmp_path / "images.yaml"
    bad_yaml.write_text("a: [b\n")
    auth = write_config(tmp_path / "auth.yaml", insecure("127.0.0.1:9"))

    json_run = run_sync("--auth", auth, "--images", bad_json)
    yaml_run = run_sync("--auth", auth, "--images", bad_yaml)

    assert json_run.code == yaml_run.code == 2
    assert "invalid JSON at line 3 column 1" in json_run.err
    assert "invalid YAML at line 2" in yaml_run.err
