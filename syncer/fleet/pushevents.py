"""Push events from registries, read into one shape: which tag of which repository was pushed.

Four senders are understood, told apart by the shape of the JSON body:

* distribution's notifications (``notifications.endpoints`` of docker-registry):
  ``{"events": [{"action": "push", "target": {"repository", "tag"}, "request": {"host"}}]}``;
  https://distribution.github.io/distribution/about/notifications/
* Harbor's webhooks: ``{"type": "PUSH_ARTIFACT", "event_data": {"resources":
  [{"tag", "resource_url"}], "repository": {"repo_full_name"}}}``;
* Docker Hub's webhooks: ``{"push_data": {"tag"}, "repository": {"repo_name"}}``;
* a generic form for anything else: ``{"repository": "[host/]path", "tag": "..."}``.

Nothing here trusts the sender: the body is parsed once (``json.loads`` is
linear), at most :data:`MAX_EVENTS` events are read, and every repository and
tag must pass the reference grammar before it is used. An event that is not
a tag push is *ignored* with a bounded reason (a metric label).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from syncer.errors import ConfigError
from syncer.oci.reference import DOCKER_HUB, Repository, validate_tag

#: Most events one request may carry (distribution batches a few dozen at most).
MAX_EVENTS = 100
#: Why an event was ignored: the label values of the ``ignored`` metric.
REASONS = (
    "unauthorized",
    "bad_request",
    "too_large",
    "not_a_push",
    "no_tag",
    "bad_name",
    "no_rule",
    "filtered",
)


@dataclass(frozen=True, slots=True)
class Push:
    """One pushed tag of ``path`` on ``registry`` (None: the sender named no registry)."""

    registry: str | None
    path: str
    tag: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event that plans nothing, and the bounded reason why."""

    reason: str


class BadEvent(ValueError):
    """A body that is no event this service understands (answered 400)."""


def parse_body(body: bytes) -> list[Push | Ignored]:
    """The pushes (and ignored events) in a request body; :class:`BadEvent` if it is none."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEvent("the body is not JSON") from exc
    if not isinstance(doc, dict):
        raise BadEvent("the body is not a JSON object")
    if isinstance(doc.get("events"), list):
        return [_distribution(e) for e in doc["events"][:MAX_EVENTS]]
    if isinstance(doc.get("event_data"), dict):
        return _harbor(doc)
    if isinstance(doc.get("push_data"), dict):
        return [_docker_hub(doc)]
    if isinstance(doc.get("repository"), str):
        return [_pushed(doc.get("repository"), doc.get("tag"))]
    raise BadEvent("not a distribution, Harbor, Docker Hub or {repository, tag} event")


def _field(obj: object, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None where a step is missing or not an object."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _pushed(repository: object, tag: object, host: object = None) -> Push | Ignored:
    """A push of ``tag`` to ``[host/]repository``, checked against the grammar."""
    if not isinstance(tag, str) or not tag:
        return Ignored("no_tag")
    if not isinstance(repository, str) or not repository or len(repository) > 512:
        return Ignored("bad_name")
    hosted = isinstance(host, str) and bool(host)
    try:
        repo = Repository.parse(f"{host}/{repository}" if hosted else repository)
        validate_tag(tag)
    except ConfigError:
        return Ignored("bad_name")
    first = repository.split("/", 1)[0]
    named = "/" in repository and ("." in first or ":" in first or first == "localhost")
    if hosted or named:  # the registry named by the sender, or in the generic form's name
        return Push(repo.registry, repo.path, tag)
    # No registry named: matched by path alone, as the sender wrote it.
    return Push(None, repository, tag)


def _distribution(event: object) -> Push | Ignored:
    if _field(event, "action") != "push":
        return Ignored("not_a_push")
    target = _field(event, "target")
    # Blob pushes carry no tag; a manifest pushed by digest only is no tag push either.
    host = _field(event, "request", "host")
    return _pushed(_field(target, "repository"), _field(target, "tag"), host)


def _harbor(doc: dict[str, Any]) -> list[Push | Ignored]:
    if doc.get("type") not in ("PUSH_ARTIFACT", "pushImage"):
        return [Ignored("not_a_push")]
    data = doc["event_data"]
    name = _field(data, "repository", "repo_full_name")
    resources = data.get("resources")
    if not isinstance(resources, list) or not resources:
        return [Ignored("no_tag")]
    out: list[Push | Ignored] = []
    for item in resources[:MAX_EVENTS]:
        url = _field(item, "resource_url")
        host = url.split("/", 1)[0] if isinstance(url, str) and "/" in url else None
        out.append(_pushed(name, _field(item, "tag"), host))
    return out


def _docker_hub(doc: dict[str, Any]) -> Push | Ignored:
    name, tag = _field(doc, "repository", "repo_name"), _field(doc, "push_data", "tag")
    return _pushed(name, tag, DOCKER_HUB)
