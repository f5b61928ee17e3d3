"""Prune decisions and deletions (syncer.engine.prune), on a fake registry."""

from __future__ import annotations

from typing import Any

from syncer.engine.prune import Deleter, decide, kept_digests, refuses_tags
from syncer.engine.verify import Check
from syncer.errors import HTTPError
from syncer.oci.models import ManifestHead
from syncer.oci.reference import Repository
from tests.support.manifest_store import Pool

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
MEDIA = "application/vnd.oci.image.manifest.v1+json"


def extra(tag: str, digest: str) -> Check:
    return Check("extra", "", f"dst.io/m/app:{tag}", "src.io/app", dest_digest=digest)


def test_a_digest_a_kept_tag_holds_is_deleted_by_tag_only() -> None:
    got = decide([extra("old", A), extra("gone", B)], {"v1": A})
    assert [c.prune for c in got] == ["delete", "delete"]
    assert "by tag only" in got[0].reason and "also tagged v1" in got[0].reason
    assert got[1].reason == ""


def test_an_empty_listing_or_an_unread_digest_keeps_the_tag() -> None:
    assert decide([extra("x", A)], {}, "kept: empty")[0].prune == "kept"
    unread = decide([extra("x", "")], {})[0]
    assert unread.prune == "kept" and "could not be read" in unread.reason


def test_what_says_a_registry_deletes_by_digest_only() -> None:
    assert refuses_tags(HTTPError("x", status=405))
    assert refuses_tags(HTTPError("x", status=400, errors=[{"code": "DIGEST_INVALID"}]))
    assert not refuses_tags(HTTPError("x", status=400, errors=[{"code": "NAME_INVALID"}]))
    assert not refuses_tags(HTTPError("x", status=403))


class DigestOnly:
    """distribution 2.x: a tag DELETE is refused; a digest DELETE removes every tag on it."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = dict(tags)
        self.deleted: list[str] = []

    def delete_manifest(self, repo: Repository, reference: str) -> bool:
        if not reference.startswith("sha256:"):
            raise HTTPError("x", status=400, errors=[{"code": "DIGEST_INVALID"}])
        self.deleted.append(reference)
        self.tags = {t: d for t, d in self.tags.items() if d != reference}
        return True

    def head_manifest(self, repo: Repository, reference: str, **_: Any) -> ManifestHead | None:
        digest = self.tags.get(reference)
        return ManifestHead(digest, MEDIA, 1) if digest else None

    def get_manifest(self, repo: Repository, reference: str) -> Any:
        from syncer.oci.models import RawManifest

        return RawManifest(b"{}", MEDIA, reference)


def test_by_digest_never_removes_a_kept_tag_or_what_the_source_has() -> None:
    reg = DigestOnly({"v1": A, "alias": A, "gone": B, "src": "sha256:" + "c" * 64})
    deleter = Deleter(Pool(reg), protected={"sha256:" + "c" * 64})  # type: ignore[arg-type]
    kept = {"v1": A}
    alias = deleter.delete(extra("alias", A), kept)
    assert alias.prune == "kept" and "also tagged v1" in alias.reason
    source_has = deleter.delete(extra("src", "sha256:" + "c" * 64), kept)
    assert source_has.prune == "kept" and "source still has" in source_has.reason
    gone = deleter.delete(extra("gone", B), kept)
    assert gone.prune == "deleted" and gone.reason == f"by digest {B}"
    assert reg.deleted == [B] and set(reg.tags) == {"v1", "alias", "src"}


def test_a_tag_that_moved_since_it_was_checked_is_kept() -> None:
    reg = DigestOnly({"gone": A})
    got = Deleter(Pool(reg)).delete(extra("gone", B), {})  # type: ignore[arg-type]
    assert got.prune == "kept" and "moved" in got.reason and reg.deleted == []


def test_kept_digests_reads_only_what_no_check_just_read() -> None:
    reg = DigestOnly({"v1": A, "v2": B})
    heads: list[str] = []
    original = reg.head_manifest

    def counting(repo: Repository, reference: str, **kw: Any) -> ManifestHead | None:
        heads.append(reference)
        return original(repo, reference, **kw)

    reg.head_manifest = counting  # type: ignore[method-assign]
    repo = Repository.parse("dst.io/m/app")
    got = kept_digests(Pool(reg), repo, ["v1", "v2", "gone"], {"dst.io/m/app:v1": A})  # type: ignore[arg-type]
    assert got == {"v1": A, "v2": B}
    assert sorted(heads) == ["gone", "v2"]
