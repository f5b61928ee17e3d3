"""Which login image-syncer v1.5.5 sends to a Basic-auth destination, beside syncer.

From ``pkg/client/config.go`` (``GetAuth``, and ``types.Auth`` decoded by
``openAndDecode``), ``pkg/utils/string.go`` ``RepoMathPrefix`` and
``pkg/sync/destination.go`` ``NewImageDestination`` (a login only when both
halves are non-empty; else containers/image's login files).
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.compat.conftest import BASIC_PASSWORD, BASIC_USER
from tests.support.compat import Side, run_all, run_both
from tests.support.compat_cases import CONFIG_AUTH, files, login_file
from tests.support.compat_rules import Servers

Source = tuple[RegistryServer, ImageSet]
IMAGES = "SRC/lab/app0:v1: DST/mirror/app0\n"
LOGIN = f"username: {BASIC_USER}, password: {BASIC_PASSWORD}, insecure: true"

#: (auth file name and text, other files, whether both copy, the Go code it follows)
CASES: dict[str, tuple[tuple[str, str], dict[str, str], bool, str]] = {
    "json-field-case": (
        (
            "auth.json",
            json.dumps(
                {
                    "SRC": {"Insecure": True},
                    "DST": {"USERNAME": BASIC_USER, "Password": BASIC_PASSWORD, "insecure": True},
                }
            ),
        ),
        {},
        True,
        "openAndDecode: encoding/json matches types.Auth's fields in any case",
    ),
    "yaml-field-case": (
        (
            "auth.yaml",
            "SRC: {insecure: true}\n"
            f"DST: {{Username: {BASIC_USER}, Password: {BASIC_PASSWORD}, insecure: true}}\n",
        ),
        {},
        False,
        "openAndDecode: yaml.v2 matches the field tags exactly; no login, refused",
    ),
    "key-without-port": (
        (
            "auth.yaml",
            f"SRC: {{insecure: true}}\nDST: {{insecure: true}}\n127.0.0.1: {{{LOGIN}}}\n",
        ),
        {},
        False,
        "RepoMathPrefix: `127.0.0.1` is a prefix of `127.0.0.1:PORT/…` but not at a '/'",
    ),
    "key-with-scheme": (
        (
            "auth.yaml",
            f"SRC: {{insecure: true}}\nDST: {{insecure: true}}\nhttp://DST: {{{LOGIN}}}\n",
        ),
        {},
        False,
        "RepoMathPrefix: `http://DST` prefixes no repository",
    ),
    "empty-strings-then-login-file": (
        ("auth.yaml", "SRC: {insecure: true}\nDST: {username: '', password: '', insecure: true}\n"),
        {CONFIG_AUTH: login_file(BASIC_USER, BASIC_PASSWORD)},
        True,
        "NewImageDestination: empty credentials leave containers/image its login files",
    ),
}


@pytest.fixture(scope="module")
def runs(
    shared_source: Source, dest_pool: Servers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Side, Side]]:
    """Both tools on every case, against Basic-auth destinations, side by side."""
    root, host = tmp_path_factory.mktemp("go-auth"), shared_source[0].host
    jobs = {}
    for case, ((auth_name, auth_text), other, _, _) in CASES.items():
        texts = {auth_name: auth_text, "images.yaml": IMAGES, **other}
        writer = files(texts, ["--auth", auth_name, "--images", "images.yaml", "-r", "0"])
        make = partial(dest_pool.start, {BASIC_USER: BASIC_PASSWORD})
        jobs[case] = partial(run_both, root / case, host, make, writer)
    return run_all(jobs)


@pytest.mark.parametrize("case", list(CASES))
def test_logins_both_tools_send_alike(case: str, runs: dict[str, tuple[Side, Side]]) -> None:
    _, _, copies, go = CASES[case]
    oracle, ours = runs[case]
    basic = (BASIC_USER, BASIC_PASSWORD)
    want = ["v1"] if copies else []
    assert oracle.tags("mirror/app0", auth=basic) == want, (go, oracle)
    assert ours.tags("mirror/app0", auth=basic) == want, (go, ours)
    assert oracle.ok is ours.ok is copies, (go, oracle, ours)
