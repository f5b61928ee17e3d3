"""Referrers (signatures, SBOMs, attestations) follow the images they refer to.

For every manifest an image job copies (its top manifest and, for an index,
each platform child), :class:`Follower` finds at the source what refers to it:

* the OCI 1.1 referrers API, ``GET /v2/<name>/referrers/<digest>``;
* where that answers 404, the Referrers Tag Schema's ``sha256-<hex>`` index tag;
* cosign's tags, ``sha256-<hex>.sig``, ``.att`` and ``.sbom``.

Each referrer becomes a :class:`TagJob` copied by digest like any image, so
the manifest keeps its ``subject`` and its bytes; referrers of referrers are
followed up to a depth. After a referrer lands at a destination without the
API, :meth:`Follower.pushed` adds it to the destination's fallback index,
merging with what is listed (spec: "Pushing Manifests with Subject"), or
writes the source's own index once it lists the same referrers.

Cheap on a no-op: a source without the API is asked once per registry, and
the tag schema is read from one tag listing per repository, so an image
without referrers costs no request there; with the API, one GET per manifest.
The destination is not asked at all for a subject whose source answer is the
one last synced there: the blob cache remembers, per destination repository,
a mark of each subject's wanted referrers (:func:`synced_mark`) once the
destination listed them all. A new referrer at the source changes the answer,
so the mark no longer matches and the destination is read again. An unchanged
image that is not an index has no children to read back.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

from syncer.config.rules import Rule
from syncer.engine.cache import MemoryBlobCache
from syncer.engine.copypath import Resolved
from syncer.engine.jobs import TagJob
from syncer.engine.referrertally import MemoryTally, Tally, charge
from syncer.errors import UnsupportedError
from syncer.oci import digests, mediatypes
from syncer.oci.manifest import parse
from syncer.oci.models import RawManifest
from syncer.oci.reference import ImageRef, Repository
from syncer.registry import referrers as api
from syncer.registry.pool import ClientPool
from syncer.registry.retry import retrying

log = logging.getLogger(__name__)


#: How deep referrers of referrers are followed (a signature of an SBOM is depth 2).
REFERRERS_DEPTH = 3


#: cosign's tag suffixes (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md).
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")


@dataclass(frozen=True, slots=True)
class ReferrerPolicy:
    """Whether to follow referrers, of which artifact types (all when empty), how deep."""

    enabled: bool = False
    types: tuple[str, ...] = ()
    depth: int = REFERRERS_DEPTH

    def wants(self, artifact_type: str) -> bool:
        """Whether a referrer of ``artifact_type`` passes the type filter."""
        return not self.types or artifact_type in self.types


@dataclass(frozen=True, slots=True)
class Found:
    """Why a referrer job exists: its subject, its list entry (none for cosign tags), depth.

    ``root`` is the image the chain started from, whose referrers are capped
    in all (:mod:`syncer.engine.referrertally`); a record written before it existed has "".
    """

    subject: str
    entry: api.ReferrerEntry | None
    depth: int
    root: str = ""

    def to_text(self) -> str:
        """Compact JSON, for a task message."""
        entry = self.entry.to_json() if self.entry is not None else None
        doc = {"subject": self.subject, "entry": entry, "depth": self.depth, "root": self.root}
        return json.dumps(doc)

    @classmethod
    def from_text(cls, text: str) -> Found:
        """Inverse of :meth:`to_text`; a malformed one is an :class:`UnsupportedError`."""
        try:
            doc = json.loads(text)
            subject, depth, raw = doc["subject"], doc["depth"], doc["entry"]
        except (ValueError, TypeError, KeyError) as exc:
            raise UnsupportedError(f"referrer record does not decode: {exc!r:.80}") from exc
        digests.parse(str(subject), "referrer subject")
        if type(depth) is not int:
            raise UnsupportedError("referrer record: depth is not a number")
        entry = None if raw is None else api.ReferrerEntry.from_json(raw, "referrer record")
        return cls(str(subject), entry, depth, str(doc.get("root") or ""))


def root_of(job: TagJob, found: Found | None) -> str:
    """The image whose referrers ``job`` counts toward: its chain's root, or itself."""
    return (found.root if found is not None else "") or job.label


#: Holds the fallback index of (destination repository, subject) while it is merged.
Guard = Callable[[Repository, str], AbstractContextManager[object]]


class Marks(Protocol):
    """The part of a blob cache that keeps synced marks (:func:`synced_mark`)."""

    def has(self, registry: str, repo: str, digest: str) -> bool:
        """Whether the mark is recorded for ``registry/repo``."""

    def add(self, registry: str, repo: str, digest: str) -> None:
        """Record the mark once the destination listed every wanted referrer."""


def synced_mark(subject: str, wanted: Iterable[api.ReferrerEntry]) -> str:
    """The cache entry saying a destination lists exactly-these referrers of ``subject``.

    It names the subject and a digest of the wanted referrers' digests, so any
    change at the source (a new signature, another type filter) is a new mark.
    """
    listed = "\n".join(sorted({e.digest for e in wanted})).encode()
    return f"referrers:{subject}:{digests.compute(listed)}"


def rule_policies(rules: Iterable[Rule]) -> dict[str, list[str]]:
    """The rules with ``referrers:`` set, by key: their artifact types (all when empty)."""
    return {r.key: list(r.referrer_types) for r in rules if r.referrers}


class Follower:
    """Turns copied images into referrer jobs, and keeps fallback indexes up to date.

    ``rules`` maps the keys of rules with ``referrers:`` to their types
    (:func:`rule_policies`); ``guard`` serialises fallback index merges (an
    in-process lock unless the fleet passes a Redis one); ``marks`` is the
    executor's blob cache, where synced marks are kept (in memory when none);
    ``tally`` counts the referrer jobs of each image against its cap (in memory when none).
    """

    def __init__(
        self,
        pool: ClientPool,
        policy: ReferrerPolicy,
        rules: Mapping[str, Sequence[str]] | None = None,
        guard: Guard | None = None,
        marks: Marks | None = None,
        tally: Tally | None = None,
    ) -> None:
        self.pool, self.policy = pool, policy
        self.tally: Tally = tally if tally is not None else MemoryTally()
        self._rules = dict(rules or {})
        self._found: dict[TagJob, Found] = {}
        self._tags: dict[Repository, frozenset[str]] = {}
        self._no_api: set[str] = set()
        self._has_api: set[str] = set()
        self._keyed: dict[object, threading.Lock] = {}
        self._lock = threading.Lock()
        self._guard = guard or self._local_guard
        self._marks: Marks = marks if marks is not None else MemoryBlobCache()
        #: (destination, subject) -> its mark and the referrers still to land there.
        self._pending: dict[tuple[Repository, str], tuple[str, set[str]]] = {}

    def policy_for(self, job: TagJob) -> ReferrerPolicy:
        """The job's rule's ``referrers:`` when set, else the command line's."""
        types = self._rules.get(job.rule)
        if types is not None:
            return ReferrerPolicy(True, tuple(types) or self.policy.types, self.policy.depth)
        return self.policy

    def is_referrer(self, job: TagJob) -> bool:
        """Whether ``job`` copies a referrer this follower found."""
        return job in self._found

    def follow(self, job: TagJob, resolved: Resolved) -> list[TagJob]:
        """The referrer jobs of a resolved image not handed out before (one process)."""
        itself = self._found.get(job)
        found = self.find(job, resolved, itself)
        with self._lock:
            new = {j: f for j, f in found.items() if j not in self._found}
            charge(self.tally, root_of(job, itself), len(new))
            self._found.update(new)
        return list(new)

    def admit(self, job: TagJob, found: Found | None = None) -> None:
        """Refuse a referrer job whose image already passed its cap, before any request."""
        found = found or self._found.get(job)
        if found is not None:
            charge(self.tally, root_of(job, found), 0)

    def find(self, job: TagJob, resolved: Resolved, found: Found | None) -> dict[TagJob, Found]:
        """Every referrer job of a resolved image; ``found`` says what ``job`` itself is."""
        policy = self.policy_for(job)
        depth = found.depth if found is not None else 0
        if not policy.enabled or depth >= policy.depth or (found and found.entry is None):
            return {}
        if resolved.skip and resolved.skip != "unchanged":
            return {}
        root = root_of(job, found)
        charge(self.tally, root, 0)  # an image past its cap lists nothing more
        out: dict[TagJob, Found] = {}
        for subject in self._subjects(job, resolved, found):
            out.update(self._jobs_of(job, subject, depth + 1, policy, root))
        return out

    def pushed(self, job: TagJob, found: Found | None = None) -> None:
        """After ``job`` landed: add it to its subject's fallback index where there is no API."""
        found = found or self._found.get(job)
        if found is None or found.entry is None:
            return
        dst, repo, entry = self.pool.for_repo(job.dest.repo), job.dest.repo, found.entry
        # A registry with the API keeps its own list from the pushed subject.
        if self._api(repo, found.subject) is None:
            tag = api.fallback_tag(found.subject)
            source = self._source_index(job.source.repo, found.subject)
            with self._guard(repo, found.subject):
                wrote = retrying(
                    lambda: api.write_fallback(dst, repo, found.subject, [entry], source),
                    what=f"PUT {repo}:{tag}",
                )
            if wrote:
                log.info("listed %s in %s:%s", entry.digest[:19], repo, tag)
        self._landed(repo, found.subject, entry.digest)

    def _source_index(self, repo: Repository, subject: str) -> RawManifest | None:
        """The source's own index of ``subject`` where it lists by tag (read as one lands)."""
        return None if self._api(repo, subject) is not None else self._fallback(repo, subject)[0]

    def _landed(self, repo: Repository, subject: str, digest: str) -> None:
        """Mark ``subject`` synced at ``repo`` once the last referrer it waited for landed."""
        with self._lock:
            pending = self._pending.get((repo, subject))
            if pending is None:
                return
            pending[1].discard(digest)
            if pending[1]:
                return
            del self._pending[(repo, subject)]
        self._marks.add(repo.registry, repo.path, pending[0])

    @contextmanager
    def _local_guard(self, repo: Repository, subject: str) -> Iterator[None]:
        with self._once(("fallback", repo, subject)):
            yield

    # -- discovery -------------------------------------------------------------------
    def _subjects(self, job: TagJob, resolved: Resolved, found: Found | None) -> list[str]:
        """The digests the copy covers: every manifest pushed, or the unchanged tree."""
        if not resolved.skip:
            return list(dict.fromkeys(raw.digest for _, raw in resolved.pushes))
        top = resolved.source_digest
        if not digests.is_digest(top):
            return []
        single = found is not None and found.entry is not None and not found.entry.is_index
        # The HEAD's media type says whether there are children at all.
        image = bool(resolved.media_type) and resolved.media_type not in mediatypes.INDEX_TYPES
        if single or image or not self._may_have_children_referrers(job):
            return [top]
        # The destination holds these very bytes: read them there, not from the source.
        dst, repo = self.pool.for_repo(job.dest.repo), job.dest.repo
        raw = retrying(lambda: dst.get_manifest(repo, top), what=f"GET {repo}@{top}")
        children = parse(raw, f"{repo}@{top}").children
        return [top, *(c.digest for c in children)]

    def _may_have_children_referrers(self, job: TagJob) -> bool:
        """Whether an unchanged image's children need reading: an API, or tag-schema tags."""
        repo = job.source.repo
        if repo.api_host not in self._no_api:
            return True
        return any(t.startswith(("sha256-", "sha512-")) for t in self._tag_list(repo))

    def _jobs_of(
        self, job: TagJob, subject: str, depth: int, policy: ReferrerPolicy, root: str
    ) -> dict[TagJob, Found]:
        """Jobs for the referrers of ``subject`` that its destination does not list yet."""
        src_repo, dst_repo = job.source.repo, job.dest.repo
        entries, tags = self._source_entries(src_repo, subject, policy)
        wanted = [e for e in entries if policy.wants(e.artifact_type)]
        listed = self._at_destination(dst_repo, subject, wanted)
        out: dict[TagJob, Found] = {}
        for entry in wanted:
            ref = TagJob(
                ImageRef(src_repo, None, entry.digest),
                ImageRef(dst_repo, None, entry.digest),
                job.rule,
            )
            if entry.digest not in listed:
                out[ref] = Found(subject, entry, depth, root)
            elif depth < policy.depth and self._may_be_referred(src_repo, entry.digest, tags):
                # Copied and listed before: only what refers to it may be new.
                out.update(self._jobs_of(ref, entry.digest, depth + 1, policy, root))
        tag = api.fallback_tag(subject)
        if not policy.types:  # cosign's tags carry no artifactType to filter on
            for suffix in COSIGN_SUFFIXES:
                if tag + suffix in tags:
                    ref = TagJob(
                        job.source.with_tag(tag + suffix), job.dest.with_tag(tag + suffix), job.rule
                    )
                    out[ref] = Found(subject, None, depth, root)
        return out

    def _source_entries(
        self, repo: Repository, subject: str, policy: ReferrerPolicy
    ) -> tuple[list[api.ReferrerEntry], frozenset[str]]:
        """What the source lists for ``subject`` (API, else tag schema), and its tags if read."""
        entries = self._api(repo, subject, policy.types[0] if len(policy.types) == 1 else "")
        tags = self._tag_list(repo) if entries is None or not policy.types else frozenset()
        if entries is None:
            entries = []
            if api.fallback_tag(subject) in tags:
                entries = self._listed_entries(repo, subject)
        return entries, tags

    def _at_destination(
        self, repo: Repository, subject: str, wanted: list[api.ReferrerEntry]
    ) -> set[str]:
        """What ``repo`` lists of ``wanted``: all of it, unasked, when its mark is cached."""
        if not wanted:
            return set()
        mark = synced_mark(subject, wanted)
        if self._marks.has(repo.registry, repo.path, mark):
            return {e.digest for e in wanted}
        listed = self._listed(repo, subject)
        missing = {e.digest for e in wanted} - listed
        if not missing:
            self._marks.add(repo.registry, repo.path, mark)  # the destination confirmed it
        else:
            with self._lock:
                self._pending[(repo, subject)] = (mark, missing)
        return listed

    def _listed(self, repo: Repository, subject: str) -> set[str]:
        """The digests ``repo`` lists as referrers of ``subject`` (API, else tag schema)."""
        return {e.digest for e in self._listed_entries(repo, subject)}

    def _listed_entries(self, repo: Repository, subject: str) -> list[api.ReferrerEntry]:
        listed = self._api(repo, subject)
        return listed if listed is not None else self._fallback(repo, subject)[1]

    def _fallback(
        self, repo: Repository, subject: str
    ) -> tuple[RawManifest | None, list[api.ReferrerEntry]]:
        client, tag = self.pool.for_repo(repo), api.fallback_tag(subject)
        return retrying(lambda: api.read_fallback(client, repo, subject), what=f"GET {repo}:{tag}")

    def _may_be_referred(self, repo: Repository, digest: str, tags: frozenset[str]) -> bool:
        """Whether the source may list referrers of ``digest``: it has the API, or the tag."""
        return repo.api_host not in self._no_api or api.fallback_tag(digest) in tags

    def _api(
        self, repo: Repository, subject: str, hint: str = ""
    ) -> list[api.ReferrerEntry] | None:
        """The API's list, or None where the registry has none: asked once per registry first."""
        host = repo.api_host
        if host in self._no_api:
            return None
        client = self.pool.for_repo(repo)

        def ask() -> list[api.ReferrerEntry] | None:
            what = f"referrers {repo}"
            return retrying(lambda: api.list_api(client, repo, subject, hint), what=what)

        if host in self._has_api:
            return ask()
        with self._once(("api", host)):  # the other threads wait for the first answer
            if host in self._no_api:
                return None
            got = ask()
            (self._has_api if got is not None else self._no_api).add(host)
            return got

    def _tag_list(self, repo: Repository) -> frozenset[str]:
        """The source repository's tags, listed once per run."""
        with self._once(("tags", repo)):
            known = self._tags.get(repo)
            if known is None:
                client = self.pool.for_repo(repo)
                known = frozenset(
                    client.list_tags(repo, fetch=lambda read: retrying(read, what=f"tags {repo}"))
                )
                self._tags[repo] = known
            return known

    def _once(self, key: object) -> threading.Lock:
        """A lock of its own for ``key``, so one thread does a lookup the others then reuse."""
        with self._lock:
            return self._keyed.setdefault(key, threading.Lock())
