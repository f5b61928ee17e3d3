"""The digest helper: parsing, hashing in the named algorithm, verifying."""

from __future__ import annotations

import hashlib

import pytest

from syncer.errors import DigestMismatchError, UnsupportedError
from syncer.oci import digests

DATA = b"exactly these bytes"


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_verify_in_the_algorithm_the_digest_names(algorithm: str) -> None:
    good = f"{algorithm}:{hashlib.new(algorithm, DATA).hexdigest()}"
    digests.verify(DATA, good, "blob x")
    assert digests.compute(DATA, algorithm) == good
    state = digests.hasher(good)
    state.update(DATA)
    assert digests.of(state) == good
    with pytest.raises(DigestMismatchError) as info:
        digests.verify(DATA + b"!", good, "blob x")
    assert info.value.expected == good
    assert info.value.actual == f"{algorithm}:{hashlib.new(algorithm, DATA + b'!').hexdigest()}"


def test_a_sha256_of_the_right_bytes_does_not_satisfy_a_sha512_digest() -> None:
    wrong = "sha512:" + hashlib.sha512(b"other").hexdigest()
    with pytest.raises(DigestMismatchError, match="blob x"):
        digests.verify(DATA, wrong, "blob x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("md5:" + "a" * 32, "unsupported digest algorithm 'md5'"),
        ("sha1:" + "a" * 40, "unsupported digest algorithm 'sha1'"),
        ("sha512:" + "a" * 64, "128 lowercase hex"),
        ("sha256:" + "A" * 64, "64 lowercase hex"),
        ("sha256", "invalid digest"),
        ("sha256:../../x", "invalid digest"),
    ],
)
def test_unknown_or_malformed_digests_are_permanent_errors(text: str, message: str) -> None:
    with pytest.raises(UnsupportedError, match=message) as info:
        digests.verify(DATA, text, "manifest r@x")
    assert str(info.value).startswith("manifest r@x: ")
    with pytest.raises(UnsupportedError, match=message):
        digests.hasher(text)


def test_parse_splits_algorithm_and_hex() -> None:
    hexpart = "c" * 96
    parsed = digests.parse(f"sha384:{hexpart}")
    assert (parsed.algorithm, parsed.hex, str(parsed)) == ("sha384", hexpart, f"sha384:{hexpart}")


@pytest.mark.parametrize(
    ("reference", "expected"), [("v1", False), ("latest", False), ("sha256:" + "0" * 64, True)]
)
def test_is_digest(reference: str, expected: bool) -> None:
    assert digests.is_digest(reference) is expected
