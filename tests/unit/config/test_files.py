"""Unit tests for syncer.config.files and syncer.config.rules: every rule form, every bad input."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncer.config.files import ConfigError, SyncConfig, load_config
from syncer.config.rules import Destination, Rule, expand_env, parse_rule
from syncer.registry.credentials import AuthEntry, normalize_auth_key
from tests.support.configfiles import write

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


def load_images(tmp_path: Path, images: Any, **kwargs: Any) -> SyncConfig:
    kwargs.setdefault("environ", {})
    return load_config(images=write(tmp_path, "images.json", images), **kwargs)


def one_rule(tmp_path: Path, key: str, value: Any = "quay.io/dst/x", **kwargs: Any) -> Rule:
    """The entry's rule; a broken entry raises its reason, as the whole file once did."""
    config = load_images(tmp_path, {key: value}, **kwargs)
    if config.broken:
        raise ConfigError(config.broken[0].reason)
    (rule,) = config.rules
    return rule


def reason_of(load: Callable[[], SyncConfig]) -> str:
    """Why a config cannot be used: a whole-file error, or its one broken entry's reason."""
    try:
        config = load()
    except ConfigError as exc:
        return str(exc)
    problems = [b.reason for b in config.broken] + [e.problem for e in config.auth.values()]
    (reason,) = [p for p in problems if p]
    return reason


# --- rule forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "source", "kind", "tags", "pattern", "digest"),
    [
        ("quay.io/coreos/proxy", "quay.io/coreos/proxy", "all", (), None, None),
        ("nginx", "docker.io/library/nginx", "all", (), None, None),
        ("index.docker.io/nginx", "docker.io/library/nginx", "all", (), None, None),
        ("localhost:5000/a/b", "localhost:5000/a/b", "all", (), None, None),
        ("quay.io/a/b:v1", "quay.io/a/b", "tags", ("v1",), None, None),
        ("quay.io/a/b:v1.0,v2.0", "quay.io/a/b", "tags", ("v1.0", "v2.0"), None, None),
        ("localhost:5000/a/b:v1", "localhost:5000/a/b", "tags", ("v1",), None, None),
        ("quay.io/a/b:/^v1\\.[0-9]+$/", "quay.io/a/b", "regex", (), "^v1\\.[0-9]+$", None),
        ("quay.io/a/b:/a:b,c{1,2}/", "quay.io/a/b", "regex", (), "a:b,c{1,2}", None),
        ("localhost:5000/a:/x/", "localhost:5000/a", "regex", (), "x", None),
        ("quay.io/a/b://", "quay.io/a/b", "regex", (), "", None),
        (f"quay.io/a/b@{D1}", "quay.io/a/b", "digest", (), None, D1),
        (f"quay.io/a/b:v1@{D1}", "quay.io/a/b", "digest", (), None, D1),
    ],
)
def test_rule_forms(
    tmp_path: Path,
    key: str,
    source: str,
    kind: str,
    tags: tuple[str, ...],
    pattern: str | None,
    digest: str | None,
) -> None:
    rule = one_rule(tmp_path, key)
    assert (rule.key, str(rule.source), rule.kind) == (key, source, kind)
    assert (rule.tags, rule.pattern, rule.digest) == (tags, pattern, digest)
    assert rule.destinations == (Destination.from_dict({"repo": "quay.io/dst/x"}),)


def test_tag_beside_digest_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        one_rule(tmp_path, f"quay.io/a/b:v1@{D1}")
    assert 'images["quay.io/a/b:v1@sha256:' in caplog.text
    assert "tag v1 ignored" in caplog.text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("a/b", "quay.io/x/y", ["quay.io/x/y"]),
        ("a/b", ["quay.io/x/y", "quay.io/x/z"], ["quay.io/x/y", "quay.io/x/z"]),
        ("a/b", ["quay.io/x/y", "quay.io/x/y"], ["quay.io/x/y"]),
        (
            "a/b",
            ["nginx", "docker.io/library/nginx", "index.docker.io/nginx"],
            ["docker.io/library/nginx"],
        ),
        ("a/b:v1,v2", "quay.io/x/y:n1,n2", ["quay.io/x/y:n1,n2"]),
        ("a/b:v1", ["quay.io/x/y:latest", "quay.io/x/y"], ["quay.io/x/y:latest", "quay.io/x/y"]),
        (f"a/b@{D1}", "quay.io/x/y", ["quay.io/x/y"]),
        (f"a/b@{D1}", "quay.io/x/y:pinned", ["quay.io/x/y:pinned"]),
        (f"a/b@{D1}", f"quay.io/x/y@{D1}", [f"quay.io/x/y@{D1}"]),
        (f"a/b@{D1}", f"quay.io/x/y:pinned@{D1}", [f"quay.io/x/y:pinned@{D1}"]),
        ("a/b:/x/", "localhost:5000/x/y", ["localhost:5000/x/y"]),
    ],
)
def test_destination_forms(tmp_path: Path, key: str, value: Any, expected: list[str]) -> None:
    assert [str(d) for d in one_rule(tmp_path, key, value).destinations] == expected


@pytest.mark.parametrize(
    ("registry", "namespace", "value", "expected"),
    [
        ("reg.io", "mirror", "", "reg.io/mirror/proxy"),
        ("reg.io", "mirror/deep/", None, "reg.io/mirror/deep/proxy"),
        ("reg.io", None, "", "reg.io/coreos/proxy"),
        ("reg.io", "", [], "reg.io/coreos/proxy"),
        ("localhost:5000", "m", [""], "localhost:5000/m/proxy"),
        ("index.docker.io", "team", None, "docker.io/team/proxy"),
    ],
)
def test_empty_destination_uses_defaults(
    tmp_path: Path, registry: str, namespace: str | None, value: Any, expected: str
) -> None:
    rule = one_rule(
        tmp_path,
        "quay.io/coreos/proxy:v1",
        value,
        default_registry=registry,
        default_namespace=namespace,
    )
    assert [str(d) for d in rule.destinations] == [expected]


def test_empty_destination_in_a_list_joins_the_others(tmp_path: Path) -> None:
    rule = one_rule(tmp_path, "quay.io/a/b", ["", "quay.io/x/y"], default_registry="reg.io")
    assert [str(d) for d in rule.destinations] == ["reg.io/a/b", "quay.io/x/y"]


# --- bad input ----------------------------------------------------------------------------

GOOD_IMAGES = {"quay.io/a/b": "quay.io/c/d"}


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ('{"a/b:/[/": "c/d"}', "images.json: images[\"a/b:/[/\"]: invalid regex '[': missing ]"),
        ('{"a/b:/(x/": "c/d"}', "images[\"a/b:/(x/\"]: invalid regex '(x': missing )"),
        ('{"a/b:/(?=v)/": "c/d"}', "invalid regex '(?=v)': invalid perl operator: (?="),
        ('{"a/b:/(?<!v)1/": "c/d"}', "invalid regex '(?<!v)1': invalid perl operator: (?<"),
        ('{"a/b:/(a)\\\\1/": "c/d"}', "invalid regex '(a)\\\\1': invalid escape sequence"),
        ('{"a/b:/abc": "c/d"}', "images[\"a/b:/abc\"]: a tag regex must start and end with '/'"),
        ('{"a/b:/": "c/d"}', "images[\"a/b:/\"]: a tag regex must start and end with '/'"),
        ('{"": "c/d"}', 'images.json: images[""]: empty source'),
        ('{"  ": "c/d"}', 'images["  "]: empty source'),
        ('{" a/b": "c/d"}', 'images[" a/b"]: source has leading or trailing whitespace'),
        ('{"a/b:": "c/d"}', "images[\"a/b:\"]: empty tag in 'a/b:'"),
        ('{"a/b:,v1": "c/d"}', "images[\"a/b:,v1\"]: empty tag in 'a/b:,v1'"),
        ('{"a/b:v1, v2": "c/d"}', "images[\"a/b:v1, v2\"]: invalid tag ' v2'"),
        ('{"a/b:-x": "c/d"}', "images[\"a/b:-x\"]: invalid tag '-x'"),
        ('{"a/b@sha256:abc": "c/d"}', 'images["a/b@sha256:abc"]: invalid digest'),
        ('{"a/b@md5:abc": "c/d"}', "unsupported digest algorithm 'md5'"),
        ('{"A/b": "c/d"}', "images[\"A/b\"]: invalid repository name 'A/b'"),
        ('{"a/b": 5}', 'images["a/b"]: destination must be a string or a list of strings, got int'),
        ('{"a/b": true}', "destination must be a string or a list of strings, got bool"),
        ('{"a/b": {"c": 1}}', "destination must be a string or a list of strings, got dict"),
        (
            '{"a/b": ["c/d", 5]}',
            'images["a/b"]: destination must be a string or a list of strings, got int',
        ),
        ('{"a/b": "c/D"}', 'images["a/b"]: destination "c/D": invalid repository name \'c/D\''),
        ('{"a/b": "c/d:x,"}', "destination \"c/d:x,\": empty tag in 'c/d:x,'"),
        (
            '{"a/b:v1,v2": "c/d:x,y,z"}',
            'images["a/b:v1,v2"]: destination "c/d:x,y,z": 2 source tags but 3 destination tags',
        ),
        ('{"a/b:v1": "c/d:x,y"}', "1 source tag but 2 destination tags"),
        (
            f'{{"a/b@{D1}": "c/d:x,y"}}',
            'destination "c/d:x,y": a digest source takes one destination tag, not 2',
        ),
        (f'{{"a/b@{D1}": "c/d@{D2}"}}', f"destination digest {D2} differs from source digest {D1}"),
        (
            f'{{"a/b:v1,v2": "c/d@{D1}"}}',
            'destination "c/d@sha256:' + "a" * 64 + '": 2 source tags but one destination digest',
        ),
        (
            '{"a/b": ""}',
            'images.json: images["a/b"]: empty destination needs --registry or DEFAULT_REGISTRY',
        ),
        ('{"a/b": null}', "empty destination needs --registry or DEFAULT_REGISTRY"),
        ('{"a/b": []}', "empty destination needs --registry or DEFAULT_REGISTRY"),
    ],
)
def test_a_bad_entry_fails_alone(tmp_path: Path, images: str, expected: str) -> None:
    """The entry becomes a broken rule with a one-line reason; the good one still loads."""
    entries = json.loads(images)
    entries["quay.io/ok/src"] = "quay.io/ok/dst"
    config = load_images(tmp_path, json.dumps(entries))
    assert [r.key for r in config.rules] == ["quay.io/ok/src"]
    (bad,) = config.broken
    assert expected in bad.reason
    assert "\n" not in bad.reason
    assert bad.reason.startswith(f"{tmp_path / 'images.json'}: images[")
    assert bad.destinations


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ('["a/b"]', "images.json: images: expected a mapping of sources, got list"),
        ("null", "images.json: images: expected a mapping of sources, got null"),
        ('{"a/b": }', "images.json: invalid JSON at line 1 column 9: Expecting value"),
        (
            '{"a/b": "c/d",\n "x": }',
            "images.json: invalid JSON at line 2 column 7: Expecting value",
        ),
        ("", "images.json: invalid JSON at line 1 column 1"),
    ],
)
def test_an_unreadable_images_file_is_an_error(tmp_path: Path, images: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_images(tmp_path, images)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_default_namespace_without_registry_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs --registry or DEFAULT_REGISTRY"):
        one_rule(tmp_path, "a/b", "", default_namespace="ns")


def test_bad_default_registry_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"images\[\"a/b\"\]: empty destination: invalid registry"
    ):
        one_rule(tmp_path, "a/b", "", default_registry="nodots")


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            {"quay.io": {"username": 1, "password": "p"}},
            'auth["quay.io"].username: expected a string, got int',
        ),
        (
            {"quay.io": {"username": "u", "password": 123456}},
            'auth["quay.io"].password: expected a string, got int: quote it',
        ),
        (
            {"quay.io": {"username": "u", "password": "p", "insecure": "yes"}},
            'auth["quay.io"].insecure: expected a boolean, got str',
        ),
        ({"quay.io": {"insecure": 1}}, 'auth["quay.io"].insecure: expected a boolean, got int'),
        (
            {"quay.io": {"max_connections": 0}},
            'auth["quay.io"].max_connections: expected a positive integer, got 0',
        ),
        (
            {"quay.io": {"max_connections": "4"}},
            "max_connections: expected a positive integer, got '4'",
        ),
        (
            {"quay.io": {"max_connections": True}},
            "max_connections: expected a positive integer, got True",
        ),
        (
            {"quay.io/ns": {"max_connections": 2}},
            'auth["quay.io/ns"].max_connections: only a registry host can limit',
        ),
        (
            {"quay.io": "u:p"},
            'auth["quay.io"]: expected a mapping of username and password, got str',
        ),
        ({"library": {}}, "auth[\"library\"]: invalid registry host 'library'"),
        ({"": {}}, "auth[\"\"]: invalid registry host ''"),
        ({"quay.io/Coreos": {}}, "auth[\"quay.io/Coreos\"]: invalid namespace 'Coreos'"),
        (["quay.io"], "auth.json: auth: expected a mapping of registries, got list"),
    ],
)
def test_bad_auth(tmp_path: Path, auth: Any, expected: str) -> None:
    # An entry is kept with its problem (the images it serves fail with it); a
    # file that is no mapping at all is a whole-file error.
    message = reason_of(
        lambda: load_config(
            auth=write(tmp_path, "auth.json", auth),
            images=write(tmp_path, "images.json", GOOD_IMAGES),
            environ={},
        )
    )
    assert expected in message
    assert "\n" not in message
    assert "123456" not in message


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "images.yaml",
            "a/b: c/d\n  x: y\n",
            "images.yaml: invalid YAML at line 2 column 4: mapping values are not allowed here",
        ),
        (
            "images.yaml",
            'a: "x\n',
            "invalid YAML at line 2 column 1: found unexpected end of stream",
        ),
        (
            "images.yml",
            "a/b: [c/d\n",
            "images.yml: invalid YAML at line 2 column 1: expected ',' or ']'",
        ),
        (
            "images.yaml",
            "1.5: c/d\n",
            "images.yaml: images[1.5]: expected an image string, got float: quote it",
        ),
        (
            "images.yaml",
            "a/b:\n  c: d\n",
            'images.yaml: images["a/b"]: destination must be a string or a list of strings,'
            " got dict",
        ),
        ("images.yaml", "a/b: 12\n", "destination must be a string or a list of strings, got int"),
        ("images.yaml", "- a/b\n", "images.yaml: images: expected a mapping of sources, got list"),
        ("images.yaml", "", "images.yaml: images: expected a mapping of sources, got null"),
        ("images.txt", "{}", "images.txt: unknown file type '.txt': use .json, .yaml or .yml"),
        ("images", "{}", "images: unknown file type '': use .json, .yaml or .yml"),
        ("images.JSON", "{}", "unknown file type '.JSON'"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    message = reason_of(lambda: load_config(images=write(tmp_path, name, text), environ={}))
    assert expected in message
    assert "\n" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ConfigError, match=r"dir\.json: cannot read: Is a directory"):
        load_config(images=tmp_path / "dir.json")
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read: No such file"):
        load_config(images=tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"auth\.json: cannot read: No such file"):
        load_config(auth=tmp_path / "auth.json", images=write(tmp_path, "i.json", GOOD_IMAGES))
    (tmp_path / "latin1.json").write_bytes(b'{"caf\xe9": 1}')
    with pytest.raises(ConfigError, match=r"latin1\.json: not UTF-8 text: invalid .* at byte 5"):
        load_config(images=tmp_path / "latin1.json")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('["x"]', "config.json: expected a mapping with auth and images, got list"),
        ('{"images": {"a/b": 1}}', 'config.json: images["a/b"]: destination must be'),
        (
            '{"auth": 3, "images": {}}',
            "config.json: auth: expected a mapping of registries, got int",
        ),
    ],
)
def test_bad_legacy_config(tmp_path: Path, config: str, expected: str) -> None:
    message = reason_of(lambda: load_config(write(tmp_path, "config.json", config), environ={}))
    assert expected in message


def test_nothing_to_load() -> None:
    with pytest.raises(ConfigError, match="no image list: pass --config FILE, or --images FILE"):
        load_config(auth=Path("auth.json"))


# --- whole files --------------------------------------------------------------------------

AUTH = {
    "quay.io": {"username": "qu", "password": "qp", "insecure": True, "max_connections": 3},
    "quay.io/coreos": {"username": "cu", "password": "cp"},
    "index.docker.io": {"username": "du", "password": "dp"},
    "localhost:5000/": {"insecure": True},
}
IMAGES = {
    "quay.io/coreos/proxy": "reg.io/ruohe/proxy",
    "quay.io/coreos/proxy:v1.0,v2.0": ["reg.io/a/proxy:n1,n2", "reg.io/b/proxy"],
    f"quay.io/coreos/proxy@{D1}": "reg.io/ruohe/proxy",
    "quay.io/coreos/proxy:/^v[0-9]+$/": "reg.io/ruohe/proxy",
    "nginx": None,
}


@pytest.mark.parametrize("ext", [".json", ".yaml", ".yml"])
def test_split_and_legacy_forms_agree_in_every_format(tmp_path: Path, ext: str) -> None:
    opts: dict[str, Any] = {"default_registry": "reg.io", "environ": {}}
    split = load_config(
        auth=write(tmp_path, "auth" + ext, AUTH),
        images=write(tmp_path, "images" + ext, IMAGES),
        **opts,
    )
    legacy = load_config(write(tmp_path, "config" + ext, {"auth": AUTH, "images": IMAGES}), **opts)
    assert split == legacy
    assert list(split.auth) == ["quay.io", "quay.io/coreos", "docker.io", "localhost:5000"]
    assert split.auth["quay.io"] == AuthEntry("qu", "qp", insecure=True, max_connections=3)
    assert split.auth["localhost:5000"] == AuthEntry(None, None, insecure=True)
    assert dict(split.limits) == {"quay.io": 3}
    assert [r.kind for r in split.rules] == ["all", "tags", "digest", "regex", "all"]
    assert str(split.rules[4].destinations[0]) == "reg.io/library/nginx"


def test_images_without_auth(tmp_path: Path) -> None:
    config = load_images(tmp_path, GOOD_IMAGES)
    assert dict(config.auth) == {} and dict(config.limits) == {}
    assert len(config.rules) == 1


def test_yaml_null_auth_entry_and_yes_boolean(tmp_path: Path) -> None:
    auth = write(tmp_path, "auth.yaml", "quay.io:\nlocalhost:5000:\n  insecure: yes\n")
    config = load_config(auth=auth, images=write(tmp_path, "i.yaml", GOOD_IMAGES), environ={})
    assert config.auth["quay.io"] == AuthEntry(None, None)
    assert config.auth["localhost:5000"].insecure is True


def test_config_beats_split_form(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = write(tmp_path, "config.json", {"images": {"quay.io/from/config": "quay.io/x/y"}})
    images = write(tmp_path, "images.json", {"quay.io/from/images": "quay.io/x/y"})
    with caplog.at_level(logging.WARNING, logger="syncer.config.files"):
        loaded = load_config(config, images=images, environ={})
    assert [r.key for r in loaded.rules] == ["quay.io/from/config"]
    assert "config.json wins: ignoring --auth and --images" in caplog.text


def test_unknown_keys_are_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = {"images": GOOD_IMAGES, "limits": {"quay.io": 2}, "auth": {"quay.io": {"token": "t"}}}
    with caplog.at_level(logging.WARNING, logger="syncer.config.files"):
        loaded = load_config(write(tmp_path, "config.json", data), environ={})
    assert len(loaded.rules) == 1
    assert 'ignoring unknown top-level key "limits"' in caplog.text
    assert 'auth["quay.io"]: ignoring unknown field "token"' in caplog.text


def test_loaded_config_is_frozen(tmp_path: Path) -> None:
    config = load_images(tmp_path, GOOD_IMAGES)
    with pytest.raises(AttributeError):
        config.rules = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.auth["x"] = AuthEntry(None, None)  # type: ignore[index]


# --- auth keys and secrets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("quay.io", "quay.io"),
        ("quay.io/", "quay.io"),
        ("quay.io/coreos", "quay.io/coreos"),
        ("docker.io", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io/myns", "docker.io/myns"),
        ("docker.io/library", "docker.io/library"),
        ("localhost", "localhost"),
        ("localhost:5000/a/b", "localhost:5000/a/b"),
    ],
)
def test_normalize_auth_key(key: str, expected: str) -> None:
    assert normalize_auth_key(key) == expected


def test_auth_entry_hides_the_password(tmp_path: Path) -> None:
    entry = AuthEntry("user", "s3cret")
    assert "s3cret" not in repr(entry) and "s3cret" not in str(entry)
    assert "'***'" in repr(entry) and "user" in repr(entry)
    assert repr(AuthEntry(None, None)).startswith("AuthEntry(username=None, password=None")
    assert not hasattr(entry, "to_dict")
    config = load_config(
        auth=write(tmp_path, "auth.json", {"quay.io": {"username": "u", "password": "s3cret"}}),
        images=write(tmp_path, "images.json", GOOD_IMAGES),
        environ={},
    )
    assert "s3cret" not in repr(config)


# --- environment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "unset"),
    [
        ("$A", "1", ()),
        ("${A}b", "1b", ()),
        ("$Ab", "", ("Ab",)),
        ("x${NOPE}y$NOPE", "xy", ("NOPE",)),
        ("$EMPTY!", "!", ()),
        ("a$$b", "a$b", ()),
        ("$$A", "$A", ()),
        ("$1 $- a$ ${A", "$1 $- a$ ${A", ()),
        ("p@ss", "p@ss", ()),
    ],
)
def test_expand_env(text: str, expected: str, unset: tuple[str, ...]) -> None:
    assert expand_env(text, {"A": "1", "EMPTY": ""}) == (expected, unset)


def test_env_in_credentials_and_destinations(tmp_path: Path) -> None:
    environ = {"U": "robot", "P": "pa$$word", "NS": "team"}
    config = load_config(
        auth=write(tmp_path, "auth.json", {"quay.io": {"username": "$U", "password": "${P}"}}),
        images=write(tmp_path, "images.json", {"a/b": "quay.io/${NS}/b", "c/d": "quay.io/$NS/d"}),
        environ=environ,
    )
    assert config.auth["quay.io"] == AuthEntry("robot", "pa$$word")
    assert [str(r.destinations[0]) for r in config.rules] == ["quay.io/team/b", "quay.io/team/d"]


def test_env_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_TEST_NS", "fromenv")
    config = load_config(images=write(tmp_path, "i.json", {"a/b": "quay.io/$SYNCER_TEST_NS/b"}))
    assert str(config.rules[0].destinations[0]) == "quay.io/fromenv/b"


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        (
            {"a/b": "${REG}/x/y"},
            'images["a/b"]: destination "${REG}/x/y": invalid repository name \'/x/y\'',
        ),
        ({"a/b": "${REG}/x/y"}, "($REG not set)"),
        (
            {"a/b": "$DEST"},
            'destination "$DEST": empty after expanding the environment ($DEST not set)',
        ),
        ({"a/b": ["quay.io/x", "$A$B"]}, "($A, $B not set)"),
    ],
)
def test_unset_variable_in_destination(tmp_path: Path, images: Any, expected: str) -> None:
    assert expected in reason_of(lambda: load_images(tmp_path, images))


def test_unset_variable_leaving_a_valid_destination_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        rule = one_rule(tmp_path, "a/b", "quay.io/x${SUFFIX}/y")
    assert str(rule.destinations[0]) == "quay.io/x/y"
    assert 'destination "quay.io/x${SUFFIX}/y": $SUFFIX not set' in caplog.text


def test_unset_password_variable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def auth(entry: dict[str, str]) -> SyncConfig:
        return load_config(
            auth=write(tmp_path, "auth.json", {"quay.io": entry}),
            images=write(tmp_path, "images.json", GOOD_IMAGES),
            environ={"U": "robot"},
        )

    # image-syncer sends a login only when both halves are non-empty (sync/source.go):
    # the entry gives none, and says so, naming the variable.
    with caplog.at_level(logging.WARNING, logger="syncer.config.files"):
        assert auth({"username": "$U", "password": "$P"}).auth["quay.io"] == AuthEntry(None, None)
    assert re.search(r'auth\["quay.io"\]: username without password \(\$P not set\)', caplog.text)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="syncer.config.files"):
        auth({"username": "$NOUSER", "password": "literal"})
    assert "password without username ($NOUSER not set): no credentials" in caplog.text
    with caplog.at_level(logging.WARNING, logger="syncer.config.files"):
        assert auth({"username": "$X", "password": "$Y"}).auth["quay.io"] == AuthEntry(None, None)
    assert "credentials empty, $X, $Y not set: anonymous" in caplog.text


# --- serialisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("quay.io/a/b", ["quay.io/x/y", "reg.io/z"]),
        ("quay.io/a/b:v1,v2", "quay.io/x/y:n1,n2"),
        ("quay.io/a/b:/^v[0-9]+/", "quay.io/x/y"),
        (f"nginx@{D1}", f"quay.io/x/y:pinned@{D1}"),
    ],
)
def test_rule_round_trips_through_json(tmp_path: Path, key: str, value: Any) -> None:
    rule = one_rule(tmp_path, key, value)
    assert Rule.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule
    for dest in rule.destinations:
        assert Destination.from_dict(json.loads(json.dumps(dest.to_dict()))) == dest


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, "cannot decode Rule: KeyError"),
        ({"key": "k", "source": "a/b", "kind": "everything"}, "unknown kind 'everything'"),
        ({"key": "k", "source": "A", "kind": "all"}, "invalid repository name 'A'"),
        ({"key": "k", "source": "a/b", "kind": "tags", "tags": ["-x"]}, "invalid tag '-x'"),
        (
            {"key": "k", "source": "a", "kind": "all", "destinations": [{}]},
            "cannot decode Destination: KeyError",
        ),
        (
            {"key": "k", "source": "a", "kind": "all", "destinations": [3]},
            "cannot decode Destination: AttributeError",
        ),
    ],
)
def test_rule_from_bad_dict(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Rule.from_dict(data)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("key", "tag", "expected"),
    [
        ("a/b", "anything", True),
        ("a/b:v1,v2", "v2", True),
        ("a/b:v1,v2", "v3", False),
        ("a/b:/^v1/", "v1.2", True),
        ("a/b:/1/", "v1.2", True),  # unanchored, like image-syncer's regexp.MatchString
        ("a/b:/^1/", "v1.2", False),
        (f"a/b@{D1}", "v1", False),
    ],
)
def test_rule_matches(key: str, tag: str, expected: bool) -> None:
    assert parse_rule(key, "c/d", environ={}).matches(tag) is expected


@pytest.mark.parametrize("ext", [".json", ".yaml"])
def test_an_images_only_file_in_the_config_place_reads_as_images(tmp_path: Path, ext: str) -> None:
    opts: dict[str, Any] = {"default_registry": "reg.io", "environ": {}}
    as_images = load_config(images=write(tmp_path, "images" + ext, IMAGES), **opts)
    positional = load_config(write(tmp_path, "rules" + ext, IMAGES), **opts)
    assert positional.rules == as_images.rules
    assert not positional.auth


def test_an_images_only_file_with_a_bad_rule_names_the_rule(tmp_path: Path) -> None:
    reason = reason_of(lambda: load_config(write(tmp_path, "rules.json", {"a/b": 1}), environ={}))
    assert re.search(r'rules\.json: images\["a/b"\]: destination must be', reason)
