"""Push events of four senders read into one shape (syncer.fleet.pushevents)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncer.fleet.pushevents import MAX_EVENTS, BadEvent, Ignored, Push, parse_body


def _parse(doc: Any) -> list[Push | Ignored]:
    return parse_body(json.dumps(doc).encode())


def test_distribution_notifications_keep_tag_pushes_only() -> None:
    def event(action: str, **target: str) -> dict[str, Any]:
        return {"action": action, "target": target, "request": {"host": "reg.example:5000"}}

    got = _parse(
        {
            "events": [
                event("push", repository="lab/app", tag="v1", mediaType="m"),
                event("push", repository="lab/app", digest="sha256:" + "a" * 64),  # a blob
                event("pull", repository="lab/app", tag="v1"),
                event("push", repository="lab/App", tag="v1"),
                event("push", repository="lab/app", tag="bad tag"),
            ]
        }
    )
    assert got == [
        Push("reg.example:5000", "lab/app", "v1"),
        Ignored("no_tag"),
        Ignored("not_a_push"),
        Ignored("bad_name"),
        Ignored("bad_name"),
    ]


def test_harbor_docker_hub_and_the_generic_form() -> None:
    harbor = {
        "type": "PUSH_ARTIFACT",
        "event_data": {
            "resources": [{"tag": "v2", "resource_url": "harbor.example/library/app:v2"}],
            "repository": {"repo_full_name": "library/app"},
        },
    }
    assert _parse(harbor) == [Push("harbor.example", "library/app", "v2")]
    assert _parse({**harbor, "type": "DELETE_ARTIFACT"}) == [Ignored("not_a_push")]
    hub = {"push_data": {"tag": "latest"}, "repository": {"repo_name": "nginx"}}
    assert _parse(hub) == [Push("docker.io", "library/nginx", "latest")]
    assert _parse({"repository": "reg.example/a/b", "tag": "1"}) == [
        Push("reg.example", "a/b", "1")
    ]
    # No registry named: matched by path alone, as written.
    assert _parse({"repository": "a/b", "tag": "1"}) == [Push(None, "a/b", "1")]
    assert _parse({"repository": "a/b"}) == [Ignored("no_tag")]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"what": 1}', "not a distribution"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_body_that_is_no_event_says_why(body: bytes, why: str) -> None:
    with pytest.raises(BadEvent, match=why):
        parse_body(body)


def test_at_most_max_events_are_read() -> None:
    one = {"action": "push", "target": {"repository": "a/b", "tag": "1"}}
    assert len(_parse({"events": [one] * (MAX_EVENTS + 50)})) == MAX_EVENTS
