"""``syncer webhook``'s request handling (syncer.cli.webhook, webhookserver), without a network."""

from __future__ import annotations

import json

import pytest

from syncer.cli.main import build_parser
from syncer.cli.webhook import MIN_SECRET, cmd_webhook
from syncer.cli.webhookserver import Service
from syncer.config.files import SyncConfig
from syncer.config.rules import Rule, parse_rule
from syncer.errors import ConfigError
from syncer.fleet.onpush import Batcher
from syncer.fleet.pushevents import BadEvent
from tests.support.scrape import total

SECRET = "s" * MIN_SECRET
RULE = parse_rule("src.example/lab/a", "dst.example/m/a", environ={})


class Queue(Batcher):
    """A batcher that only queues."""

    def __init__(self) -> None:
        super().__init__(SyncConfig({}, (), {}), lambda c: "p", 1.0, lambda p, f: None)
        self.added: list[list[Rule]] = []

    def add(self, rules: list[Rule]) -> int:
        self.added.append(rules)
        return super().add(rules)


def test_take_counts_and_queues_only_what_the_rules_select() -> None:
    queue = Queue()
    service = Service((RULE,), SECRET, queue)
    events = {
        "events": [
            {"action": "push", "target": {"repository": "lab/a", "tag": "v1"}},
            {"action": "push", "target": {"repository": "lab/a", "tag": "v1"}},
            {"action": "pull", "target": {"repository": "lab/a", "tag": "v1"}},
            {"action": "push", "target": {"repository": "lab/z", "tag": "v1"}},
        ]
    }
    counts = service.take(json.dumps(events).encode())
    assert counts == {"events": 4, "queued": 1, "coalesced": 1, "ignored": 2}
    from prometheus_client import generate_latest

    text = generate_latest(service.metrics.registry).decode()
    assert total(text, "syncer_webhook_events_received_total") == 4
    assert total(text, "syncer_webhook_events_accepted_total") == 2
    assert total(text, "syncer_webhook_events_ignored_total", reason="no_rule") == 1
    with pytest.raises(BadEvent):
        service.take(b"nope")


def test_the_secret_is_compared_whole() -> None:
    service = Service((RULE,), SECRET, Queue())
    assert service.authentic(SECRET)
    assert not service.authentic(SECRET[:-1]) and not service.authentic(SECRET + "x")


def test_no_or_a_short_secret_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    args = build_parser().parse_args(["webhook", "--images", "i.yaml"])
    monkeypatch.delenv("SYNCER_WEBHOOK_SECRET_FILE", raising=False)
    monkeypatch.delenv("SYNCER_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="SYNCER_WEBHOOK_SECRET"):
        cmd_webhook(args)
    monkeypatch.setenv("SYNCER_WEBHOOK_SECRET", "short")
    with pytest.raises(ConfigError, match=f"at least {MIN_SECRET}"):
        cmd_webhook(args)
