"""The one reference parser: Docker Hub normalisation, hosts, tags, digests, URL paths."""

from __future__ import annotations

import pytest

from syncer.errors import ConfigError
from syncer.oci.reference import (
    DOCKER_HUB_API,
    ImageRef,
    Repository,
    normalize_registry,
    validate_digest,
    validate_tag,
)

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "path"),
    [
        ("nginx", "docker.io", "library/nginx"),
        ("library/nginx", "docker.io", "library/nginx"),
        ("bitnami/redis", "docker.io", "bitnami/redis"),
        ("docker.io/nginx", "docker.io", "library/nginx"),
        ("docker.io/a/b", "docker.io", "a/b"),
        ("index.docker.io/x", "docker.io", "library/x"),
        ("registry-1.docker.io/a/b", "docker.io", "a/b"),
        ("DOCKER.IO/x", "docker.io", "library/x"),
        ("quay.io/coreos/etcd", "quay.io", "coreos/etcd"),
        ("quay.io/single", "quay.io", "single"),
        ("reg.example:5000/a/b/c", "reg.example:5000", "a/b/c"),
        ("localhost/x", "localhost", "x"),
        ("localhost:5000/x", "localhost:5000", "x"),
        ("[::1]:5000/x", "[::1]:5000", "x"),
        ("[fe80::1]/team/app", "[fe80::1]", "team/app"),
        ("Reg.Example.COM/x", "Reg.Example.COM", "x"),
        ("a.b/c_d/e__f/g-h/i--j/k.l", "a.b", "c_d/e__f/g-h/i--j/k.l"),
    ],
)
def test_repository_parse(text: str, registry: str, path: str) -> None:
    repo = Repository.parse(text)
    assert (repo.registry, repo.path) == (registry, path)
    assert str(repo) == f"{registry}/{path}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " nginx",
        "nginx ",
        "Nginx",
        "team/App",
        "nginx/",
        "/nginx",
        "a//b",
        "-a",
        "a-",
        "a___b",
        "a..b",
        "reg.example/",
        "reg_example.com:x/a",
        "[::1/x",
        "a" * 256,
        "quay.io/" + "/".join(["abcdefghij"] * 23) + "/abcdef",
    ],
)
def test_repository_parse_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        Repository.parse(text)


def test_path_of_exactly_255_characters_is_allowed() -> None:
    assert len(Repository.parse("quay.io/" + "a" * 255).path) == 255


def test_api_host_and_name() -> None:
    assert Repository.parse("nginx").api_host == DOCKER_HUB_API == "registry-1.docker.io"
    repo = Repository.parse("reg.example:5000/team/app")
    assert repo.api_host == "reg.example:5000" and repo.name == "app"


def test_url_paths() -> None:
    repo = Repository.parse("nginx")
    assert repo.manifest_path("1.25") == "/v2/library/nginx/manifests/1.25"
    assert repo.manifest_path(D) == f"/v2/library/nginx/manifests/{D}"
    assert repo.blob_path(D) == f"/v2/library/nginx/blobs/{D}"
    assert repo.upload_path() == "/v2/library/nginx/blobs/uploads/"
    assert repo.tags_path() == "/v2/library/nginx/tags/list"


@pytest.mark.parametrize(
    ("text", "repo", "tag", "digest"),
    [
        ("nginx", "docker.io/library/nginx", None, None),
        ("nginx:1.25", "docker.io/library/nginx", "1.25", None),
        (f"nginx@{D}", "docker.io/library/nginx", None, D),
        (f"nginx:1.25@{D}", "docker.io/library/nginx", "1.25", D),
        ("localhost:5000/x", "localhost:5000/x", None, None),
        ("localhost:5000/x:v1", "localhost:5000/x", "v1", None),
        ("[::1]:5000/x:v1", "[::1]:5000/x", "v1", None),
        (f"[::1]:5000/x@{D}", "[::1]:5000/x", None, D),
        ("localhost:5000", "docker.io/library/localhost", "5000", None),
    ],
)
def test_image_ref_parse(text: str, repo: str, tag: str | None, digest: str | None) -> None:
    ref = ImageRef.parse(text)
    assert (str(ref.repo), ref.tag, ref.digest) == (repo, tag, digest)


def test_image_ref_reference_str_and_with_tag() -> None:
    both = ImageRef.parse(f"quay.io/a/b:v1@{D}")
    assert both.reference == D and str(both) == f"quay.io/a/b:v1@{D}"
    assert ImageRef.parse("quay.io/a/b:v1").reference == "v1"
    moved = both.with_tag("v2")
    assert (moved.tag, moved.digest, moved.repo) == ("v2", None, both.repo)
    with pytest.raises(ConfigError, match="neither tag nor digest"):
        _ = ImageRef.parse("quay.io/a/b").reference


@pytest.mark.parametrize(
    "text",
    [
        "nginx:",
        "nginx@",
        "nginx:-x",
        "nginx:.x",
        "nginx:a/b",
        "nginx:" + "t" * 129,
        "nginx@sha256:abc",
        f"nginx@{D}0",
        "nginx@md5:" + "a" * 32,
        "nginx@sha256:" + "A" * 64,
        "Nginx:v1",
    ],
)
def test_image_ref_parse_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        ImageRef.parse(text)


def test_tag_limits() -> None:
    assert validate_tag("t" * 128) == "t" * 128
    assert validate_tag("_v1.2-rc") == "_v1.2-rc"


@pytest.mark.parametrize("tag", ["café", "版本", "v1²"])
def test_non_ascii_tags_are_rejected(tag: str) -> None:
    with pytest.raises(ConfigError):
        validate_tag(tag)


@pytest.mark.parametrize(
    "digest",
    [D, "sha384:" + "b" * 96, "sha512:" + "c" * 128],
)
def test_supported_digests(digest: str) -> None:
    assert validate_digest(digest) == digest


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        ("sha256:" + "a" * 63, "64 lowercase hex"),
        ("sha256:" + "a" * 65, "64 lowercase hex"),
        ("sha256:" + "g" * 64, "64 lowercase hex"),
        ("sha512:" + "a" * 64, "128 lowercase hex"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("sha256", "invalid digest"),
        (":abc", "invalid digest"),
    ],
)
def test_bad_digests(digest: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_digest(digest)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("index.docker.io", "docker.io"),
        ("registry.hub.docker.com", "docker.io"),
        ("quay.io", "quay.io"),
        ("localhost", "localhost"),
        ("[::1]:5000", "[::1]:5000"),
    ],
)
def test_normalize_registry(host: str, expected: str) -> None:
    assert normalize_registry(host) == expected


@pytest.mark.parametrize("host", ["library", "", "bad host.io", "quay.io/x", "a.b:port"])
def test_normalize_registry_rejects(host: str) -> None:
    with pytest.raises(ConfigError):
        normalize_registry(host)


@pytest.mark.parametrize(
    ("text", "registry", "path"),
    [
        ("oci:/mnt/usb/quay.io/coreos/proxy", "oci", "/mnt/usb/quay.io/coreos/proxy"),
        ("oci-archive:/mnt/usb/proxy.tar", "oci-archive", "/mnt/usb/proxy.tar"),
        ("oci:/srv/My Images/app", "oci", "/srv/My Images/app"),
    ],
)
def test_a_layout_is_a_repository_named_as_skopeo_names_it(
    text: str, registry: str, path: str
) -> None:
    repo = Repository.parse(text)
    assert (repo.registry, repo.path, repo.is_layout, str(repo)) == (registry, path, True, text)
    assert Repository.parse(str(repo)) == repo


def test_the_first_colon_after_the_transport_starts_the_tag_as_in_skopeo() -> None:
    ref = ImageRef.parse("oci:/mnt/usb/proxy:v1.2")
    assert (ref.repo.path, ref.tag, str(ref)) == (
        "/mnt/usb/proxy",
        "v1.2",
        "oci:/mnt/usb/proxy:v1.2",
    )
    pinned = ImageRef.parse("oci:/mnt/usb/proxy@sha256:" + "a" * 64)
    assert (pinned.repo.path, pinned.tag, pinned.digest) == (
        "/mnt/usb/proxy",
        None,
        "sha256:" + "a" * 64,
    )
    assert not Repository.parse("quay.io/a/b").is_layout


@pytest.mark.parametrize(
    "text",
    [
        "oci:relative/dir",
        "oci:/",
        "oci:/a/../etc",
        "oci:/a/./b",
        "oci:/a//b",
        "oci:/a/b/",
        "oci:/a:b/c",
        "oci:/a@b",
        "oci:/a,b",
        "oci:/a\nb",
        "oci:/" + "x" * 2000,
    ],
)
def test_a_layout_path_must_be_absolute_normal_and_plain(text: str) -> None:
    with pytest.raises(ConfigError, match="layout path"):
        Repository.parse(text)


def test_a_bad_digest_from_a_server_is_shown_escaped_and_clipped() -> None:
    header = "sha256:\x1b[31m" + "x" * 60_000
    with pytest.raises(ConfigError) as caught:
        validate_digest(header)
    message = str(caught.value)
    assert len(message) < 300 and "\x1b" not in message and message.endswith("…'")
