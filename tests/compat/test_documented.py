"""Differences on purpose, as the README's "Switching from image-syncer" lists them.

Each case shows image-syncer v1.5.5's behaviour and syncer's on the same files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lab.content import ImageSet
from lab.registry import HtpasswdAuth, RegistryServer
from tests.support.compat import Side, run_both
from tests.support.compat_cases import INSECURE, files, split
from tests.support.registries import RegistryFactory, write_htpasswd

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]
RULES = {"SRC/lab/app0:v1": "DST/mirror/app0"}


def failed_without_copying(side: Side, *repos: str) -> None:
    assert side.code != 0, side
    for repo in repos:
        assert side.tags(repo) == [], (side.tool, repo)


@pytest.mark.differs("docker's rule: plain HTTP is allowed for a loopback registry")
def test_loopback_registries_over_plain_http_without_insecure(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/sync/source.go NewImageSource: only `insecure` lets containers/image fall
    back to HTTP, so image-syncer cannot reach an HTTP registry without an auth file."""
    writer = files(
        {"images.yaml": "SRC/lab/app0:v1: DST/mirror/app0\n"}, ["--images", "images.yaml"]
    )
    oracle, ours = run_both(tmp_path, shared_source[0].host, make_dest, writer)
    failed_without_copying(oracle, "mirror/app0")
    assert "server gave HTTP response to HTTPS client" in oracle.err, oracle
    assert ours.ok and ours.tags("mirror/app0") == ["v1"], ours


@pytest.mark.parametrize("how", ["DEFAULT_REGISTRY", "--registry"])
@pytest.mark.differs("DEFAULT_REGISTRY and --registry are syncer's own; v1.5.5 has neither")
def test_empty_destination_with_a_default_registry(
    how: str, shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/utils/types/imageList.go NewImageList: an empty destination fails the whole
    images list; image-syncer reads no environment variable and has no --registry."""
    # run_both starts image-syncer's destination first, then syncer's: start both
    # ahead, so that syncer's can be named.
    oracle_dest, syncer_dest = make_dest(), make_dest()
    flag = ["--registry", syncer_dest.host] if how == "--registry" else []
    env = {"DEFAULT_REGISTRY": syncer_dest.host} if how == "DEFAULT_REGISTRY" else None
    writer = split({"SRC/lab/app0:v1": ""}, args=flag)
    dests = iter([oracle_dest, syncer_dest])
    oracle, ours = run_both(tmp_path, shared_source[0].host, dests.__next__, writer, env=env)
    if how == "--registry":
        assert "unknown flag: --registry" in oracle.out, oracle
    else:
        assert "empty destination is not supported" in oracle.out, oracle
    failed_without_copying(oracle, "lab/app0")
    assert ours.ok and ours.tags("lab/app0") == ["v1"], ours


@pytest.fixture
def make_dollar_dest(registry_factory: RegistryFactory, tmp_path: Path) -> MakeDest:
    """Destinations whose password holds `$1` and ends with `$`."""
    htpasswd = write_htpasswd(tmp_path / "dollar.htpasswd", {"bot": "pa$1ss$"})
    return lambda: registry_factory(auth=HtpasswdAuth(str(htpasswd)))


@pytest.mark.differs("in syncer's credentials `$1` stays as written and `$$` is one `$`")
def test_shell_specials_in_credentials(
    shared_source: Source, make_dollar_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/client/config.go expandEnv runs os.ExpandEnv on an --auth file's credentials,
    which drops `$1` and `$$`; syncer expands only `$NAME` and `${NAME}`, and reads
    `$$` as a `$`, so `pa$1ss$$` is the password `pa$1ss$`."""
    auth = {**INSECURE, "DST": {"username": "bot", "password": "pa$1ss$$", "insecure": True}}
    oracle, ours = run_both(
        tmp_path, shared_source[0].host, make_dollar_dest, split(RULES, auth=auth, args=["-r", "0"])
    )
    login = ("bot", "pa$1ss$")
    assert oracle.code != 0 and oracle.tags("mirror/app0", auth=login) == [], oracle
    assert ours.ok and ours.tags("mirror/app0", auth=login) == ["v1"], ours


@pytest.mark.differs("a quoted insecure fails only the images its entry serves in syncer")
def test_a_quoted_insecure_fails_its_entry_only(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/client/config.go openAndDecode: yaml.v2 will not put the string 'true' in a
    bool, so the whole auth file fails and nothing is copied."""
    auth = "SRC: {insecure: true}\nDST: {insecure: true}\nDST/broken: {insecure: 'true'}\n"
    rules = {"SRC/lab/app0:v1": "DST/mirror/app0", "SRC/lab/app0:v2": "DST/broken/app0"}
    oracle, ours = run_both(tmp_path, shared_source[0].host, make_dest, split(rules, auth=auth))
    assert "cannot unmarshal !!str `true` into bool" in oracle.out, oracle
    failed_without_copying(oracle, "mirror/app0", "broken/app0")
    assert ours.code == 1 and ours.tags("mirror/app0") == ["v1"], ours
    assert ours.tags("broken/app0") == []
    assert "insecure: expected a boolean, got str" in ours.out


@pytest.mark.differs("two digests in one rule fail that rule in syncer")
def test_two_digests_in_one_rule(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/utils/url.go GenerateRepoURLs: `repo@d1,d2` splits on ',' and asserts the
    first part is a tag; the panic is swallowed by the pool: nothing copied, exit 0."""
    source, images = shared_source
    v1, v2 = (images.get("lab/app0", t).digest for t in ("v1", "v2"))
    rule = f"SRC/lab/app0@{v1},{v2}"
    oracle, ours = run_both(tmp_path, source.host, make_dest, split({rule: "DST/mirror/app0"}))
    assert oracle.ok and "0 tasks failed" in str(oracle.finished_line()), oracle
    assert oracle.digest("mirror/app0", v1) == oracle.digest("mirror/app0", v2) == ""
    assert ours.code == 1 and ours.digest("mirror/app0", v1) == "", ours
    assert f"{rule.replace('SRC', source.host)} -> " in ours.out
