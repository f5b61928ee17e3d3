"""Differences on purpose, as the README's "Switching from image-syncer" lists them.

Each case shows image-syncer v1.5.5's behaviour and syncer's on the same files;
the cases run side by side, once per module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import Side, Writer, run_all, run_both
from tests.support.compat_cases import INSECURE, files, split
from tests.support.compat_rules import Servers

Source = tuple[RegistryServer, ImageSet]
Runs = dict[str, tuple[Side, Side]]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}
#: A login whose password holds `$1` and ends with `$` (written `$$` in the file).
DOLLAR_LOGIN = ("bot", "pa$1ss$")
DEFAULTS = ("DEFAULT_REGISTRY", "--registry")


def failed_without_copying(side: Side, *repos: str) -> None:
    assert side.code != 0, side
    for repo in repos:
        assert side.tags(repo) == [], (side.tool, repo)


def _default_registry(
    how: str, pool: Servers
) -> tuple[Callable[[], RegistryServer], list[str], dict[str, str] | None]:
    """Destinations started ahead (run_both starts image-syncer's first, then
    syncer's), so that syncer's host can be named; its flag and environment."""
    theirs, mine = pool.start(), pool.start()
    flag = ["--registry", mine.host] if how == "--registry" else []
    env = {"DEFAULT_REGISTRY": mine.host} if how == "DEFAULT_REGISTRY" else None
    return iter([theirs, mine]).__next__, flag, env


@pytest.fixture(scope="module")
def runs(
    shared_source: Source, dest_pool: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Runs:
    """Both tools on every case, side by side."""
    root, (source, images) = tmp_path_factory.mktemp("documented"), shared_source
    v1, v2 = (images.get("lab/app0", t).digest for t in ("v1", "v2"))
    dollar = {**INSECURE, "DST": {"username": "bot", "password": "pa$1ss$$", "insecure": True}}
    quoted = "SRC: {insecure: true}\nDST: {insecure: true}\nDST/broken: {insecure: 'true'}\n"
    two_rules = {"SRC/lab/app0:v1": "DST/mirror/app0", "SRC/lab/app0:v2": "DST/broken/app0"}
    cases: dict[str, tuple[Callable[[], RegistryServer], Writer, dict[str, str] | None]] = {
        "loopback": (
            dest_pool.start,
            files(
                {"images.yaml": "SRC/lab/app0:v1: DST/mirror/app0\n"}, ["--images", "images.yaml"]
            ),
            None,
        ),
        "dollar": (
            partial(dest_pool.start, dict([DOLLAR_LOGIN])),
            split(RULES, auth=dollar, args=["-r", "0"]),
            None,
        ),
        "quoted": (dest_pool.start, split(two_rules, auth=quoted), None),
        "two-digests": (
            dest_pool.start,
            split({f"SRC/lab/app0@{v1},{v2}": "DST/mirror/app0"}),
            None,
        ),
    }
    for how in DEFAULTS:
        make, flag, env = _default_registry(how, dest_pool)
        cases[how] = (make, split({"SRC/lab/app0:v1": ""}, args=flag), env)
    return run_all(
        {
            case: partial(run_both, root / case, source.host, make, writer, env=env)
            for case, (make, writer, env) in cases.items()
        }
    )


@pytest.mark.differs("docker's rule: plain HTTP is allowed for a loopback registry")
def test_loopback_registries_over_plain_http_without_insecure(runs: Runs) -> None:
    """pkg/sync/source.go NewImageSource: only `insecure` lets containers/image fall
    back to HTTP, so image-syncer cannot reach an HTTP registry without an auth file."""
    oracle, ours = runs["loopback"]
    failed_without_copying(oracle, "mirror/app0")
    assert "server gave HTTP response to HTTPS client" in oracle.err, oracle
    assert ours.ok and ours.tags("mirror/app0") == ["v1"], ours


@pytest.mark.parametrize("how", DEFAULTS)
@pytest.mark.differs("DEFAULT_REGISTRY and --registry are syncer's own; v1.5.5 has neither")
def test_empty_destination_with_a_default_registry(how: str, runs: Runs) -> None:
    """pkg/utils/types/imageList.go NewImageList: an empty destination fails the whole
    images list; image-syncer reads no environment variable and has no --registry."""
    oracle, ours = runs[how]
    if how == "--registry":
        assert "unknown flag: --registry" in oracle.out, oracle
    else:
        assert "empty destination is not supported" in oracle.out, oracle
    failed_without_copying(oracle, "lab/app0")
    assert ours.ok and ours.tags("lab/app0") == ["v1"], ours


@pytest.mark.differs("in syncer's credentials `$1` stays as written and `$$` is one `$`")
def test_shell_specials_in_credentials(runs: Runs) -> None:
    """pkg/client/config.go expandEnv runs os.ExpandEnv on an --auth file's credentials,
    which drops `$1` and `$$`; syncer expands only `$NAME` and `${NAME}`, and reads
    `$$` as a `$`, so `pa$1ss$$` is the password `pa$1ss$`."""
    oracle, ours = runs["dollar"]
    assert oracle.code != 0 and oracle.tags("mirror/app0", auth=DOLLAR_LOGIN) == [], oracle
    assert ours.ok and ours.tags("mirror/app0", auth=DOLLAR_LOGIN) == ["v1"], ours


@pytest.mark.differs("a quoted insecure fails only the images its entry serves in syncer")
def test_a_quoted_insecure_fails_its_entry_only(runs: Runs) -> None:
    """pkg/client/config.go openAndDecode: yaml.v2 will not put the string 'true' in a
    bool, so the whole auth file fails and nothing is copied."""
    oracle, ours = runs["quoted"]
    assert "cannot unmarshal !!str `true` into bool" in oracle.out, oracle
    failed_without_copying(oracle, "mirror/app0", "broken/app0")
    assert ours.code == 1 and ours.tags("mirror/app0") == ["v1"], ours
    assert ours.tags("broken/app0") == []
    assert "insecure: expected a boolean, got str" in ours.out


@pytest.mark.differs("two digests in one rule fail that rule in syncer")
def test_two_digests_in_one_rule(runs: Runs, shared_source: Source) -> None:
    """pkg/utils/url.go GenerateRepoURLs: `repo@d1,d2` splits on ',' and asserts the
    first part is a tag; the panic is swallowed by the pool: nothing copied, exit 0."""
    oracle, ours = runs["two-digests"]
    source, images = shared_source
    v1 = images.get("lab/app0", "v1").digest
    assert oracle.ok and "0 tasks failed" in str(oracle.finished_line()), oracle
    assert oracle.digest("mirror/app0", v1) == ""
    assert ours.code == 1 and ours.digest("mirror/app0", v1) == "", ours
    assert f"{source.host}/lab/app0@{v1}," in ours.out
