"""Every Redis key and once-token, pinned to its exact string.

A fleet being upgraded runs old and new workers on one Redis: a key that
changes spelling splits it in two (one side never sees the other's plans,
locks or claims). If a test here fails, the change is a fleet-upgrade break:
say so in the upgrade notes, or keep the old spelling.
"""

from __future__ import annotations

import inspect

import pytest

from syncer.fleet.protocol import keys, settings

P, IMG, B = "20260101-000000-abc123", "0123456789abcdef", "dst.example/a@sha256:aa"
R, REPO, D = "dst.example:5000", "team/app", "sha256:" + "ab" * 32

_NOT_KEYS = {"blob_key", "image_id"}  # parts of keys and tokens, not keys themselves

#: (builder in keys.py, its arguments, the exact key or token)
PINNED: list[tuple[str, tuple[str, ...], str]] = [
    ("plan_meta", (P,), f"syncer:plan:{P}:meta"),
    ("plan_counters", (P,), f"syncer:plan:{P}:counters"),
    ("plan_results", (P,), f"syncer:plan:{P}:results"),
    ("plan_cancelled", (P,), f"syncer:plan:{P}:cancelled"),
    ("plan_once", (P,), f"syncer:plan:{P}:once"),
    ("plan_ended", (P,), f"syncer:plan:{P}:ended"),
    ("plan_checks", (P,), f"syncer:plan:{P}:checks"),
    ("plan_prune", (P,), f"syncer:plan:{P}:prune"),
    ("plan_pruning", (P,), f"syncer:plan:{P}:pruning"),
    ("plan_refused", (P,), f"syncer:plan:{P}:refused"),
    ("image_record", (P, IMG), f"syncer:plan:{P}:image:{IMG}"),
    ("image_pending", (P, IMG), f"syncer:plan:{P}:pending:{IMG}"),
    ("blob_waiters", (P, B), f"syncer:plan:{P}:waiters:{B}"),
    ("blobs_landed", (P,), f"syncer:plan:{P}:landed"),
    ("blobs_failed", (P,), f"syncer:plan:{P}:blobfailed"),
    ("blob_claims", (P,), f"syncer:plan:{P}:claims"),
    ("plan_referrers", (P,), f"syncer:plan:{P}:referrers"),
    ("cached_blobs", (R, REPO), f"syncer:blobs:{R}:{REPO}"),
    ("repos_holding", (R, D), f"syncer:blobrepos:{R}:{D}"),
    ("inflight_lock", (R, D), f"syncer:inflight:{R}:{D}"),
    ("connection_leases", (R,), f"syncer:conn:{R}"),
    ("backoff", (R,), f"syncer:backoff:{R}"),
    ("upload_session", (f"{R}/{REPO}", D), f"syncer:upload:{R}/{REPO}@{D}"),
    ("roster", (), "syncer:workers"),
    ("links_alive", (), "syncer:links:alive"),
    ("links_busy", (), "syncer:links:busy"),
    ("plan_index", (), "syncer:plans"),
    ("epoch", (), "syncer:epoch"),
    ("schedules", (), "syncer:schedules"),
    ("schedule_runs", ("nightly",), "syncer:schedule:nightly:runs"),
    ("schedule_starting", ("nightly",), "syncer:schedule:nightly:starting"),
    ("redbeat_prefix", (), "syncer:redbeat:"),
    ("redbeat_lock", (), "syncer:redbeat::lock"),
    ("unacked_index", (), "unacked_index"),
    ("unacked", (), "unacked"),
    ("task_queues", (), "celery*"),
    ("once_expand", ("quay.io/a",), "expand:quay.io/a"),
    ("once_finished", (IMG, "quay.io/a"), f"finished:{IMG}:quay.io/a"),
    ("once_seen", (B,), f"seen:{B}"),
    ("once_referrer", ("img1",), "referrer:img1"),
    ("once_landed", (B,), f"landed:{B}"),
    ("once_failed", (B,), f"failed:{B}"),
    ("once_bytes", (R, D), f"bytes:{R}@{D}"),
    ("once_settled", (R, D), f"settled:{R}@{D}"),
    ("once_verify", ("quay.io/a",), "verify:quay.io/a"),
    ("once_prune", ("quay.io/a",), "prune:quay.io/a"),
    ("once_verified", (IMG,), f"verified:{IMG}"),
    ("blob_key", (f"{R}/{REPO}", D), f"{R}/{REPO}@{D}"),
    # The record of an image is found again by this id after a redelivery or an upgrade.
    ("image_id", ("src.example/a:1", "dst.example/a:1"), "9348637a8675d4bf"),
]


@pytest.mark.parametrize(("name", "args", "expected"), PINNED, ids=[p[0] for p in PINNED])
def test_each_key_keeps_its_exact_spelling(name: str, args: tuple[str, ...], expected: str) -> None:
    assert getattr(keys, name)(*args) == expected


def test_every_builder_in_keys_is_pinned() -> None:
    # A key added to keys.py without a pin here could change spelling unnoticed.
    builders = {
        name
        for name, fn in inspect.getmembers(keys, inspect.isfunction)
        if fn.__module__ == keys.__name__ and not name.startswith("_")
    }
    assert builders - {"plan_keys", "plan_working_keys"} == {name for name, _, _ in PINNED}


def test_every_syncer_key_sits_under_the_namespace() -> None:
    assert keys.NAMESPACE == "syncer:"
    redis_keys = [e for n, _, e in PINNED if not n.startswith("once_") and n not in _NOT_KEYS]
    # kombu's and Celery's own names, stated so syncer reads the keys they write.
    outside = [k for k in redis_keys if not k.startswith(keys.NAMESPACE)]
    assert outside == ["unacked_index", "unacked", "celery*"]


def test_plan_keys_are_the_six_long_lived_ones_in_order() -> None:
    assert keys.plan_keys(P) == tuple(
        f"syncer:plan:{P}:{name}"
        for name in ("meta", "counters", "results", "cancelled", "once", "ended")
    )


def test_plan_working_keys_are_what_an_ended_plan_drops() -> None:
    assert keys.plan_working_keys(P) == tuple(
        f"syncer:plan:{P}:{name}" for name in ("once", "claims", "landed", "blobfailed")
    )


def test_the_broker_transport_names_the_unacked_index_of_keys() -> None:
    options = settings.celery_config("redis://h:6379/0")["broker_transport_options"]
    assert options["unacked_index_key"] == keys.unacked_index()
