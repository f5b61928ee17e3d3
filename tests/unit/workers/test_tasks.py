"""The tasks' retry policy: transient errors retry, and a retry Redis cannot take is requeued."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery.exceptions import Reject, Retry

from syncer.engine.jobs import TagJob
from syncer.errors import NotFoundError, ServerError, StateError
from syncer.fleet.protocol import settings
from syncer.fleet.protocol.messages import SyncTag
from tests.support.dispatch import Recorder, fleet_context, tag_job
from workers import tasks


class FakeTask:
    """Just what the policy reads: a name, a request and ``retry``."""

    name = "syncer.copy_blob"

    def __init__(self, publish_fails: bool, retries: int = 0) -> None:
        self.request = SimpleNamespace(id="t1", retries=retries, hostname="w1@host")
        self.publish_fails = publish_fails
        self.retried: list[dict[str, Any]] = []

    def retry(self, **kwargs: Any) -> Retry:
        self.retried.append(kwargs)
        if self.publish_fails:
            # What Celery's Task.retry does when apply_async raises.
            raise Reject(ConnectionError("redis down"), requeue=False)
        raise Retry("retrying", kwargs.get("exc"))


def _server_error() -> ServerError:
    return ServerError("GET x: HTTP 503", status=503)


def test_a_transient_error_is_retried_with_a_countdown() -> None:
    task, recorded = FakeTask(publish_fails=False), []
    with pytest.raises(Retry):
        tasks._retry_or_record(task, _server_error(), recorded.append)  # type: ignore[arg-type]
    assert task.retried and task.retried[0]["countdown"] > 0 and not recorded


def test_a_retry_that_cannot_be_published_requeues_the_original() -> None:
    task, recorded = FakeTask(publish_fails=True), []
    with pytest.raises(Reject) as info:
        tasks._retry_or_record(task, _server_error(), recorded.append)  # type: ignore[arg-type]
    assert info.value.requeue is True, "the message must not be dropped"
    assert not recorded


def test_a_permanent_error_is_recorded_and_never_retried() -> None:
    task, recorded = FakeTask(publish_fails=False), []
    error = NotFoundError("GET x: HTTP 404 MANIFEST_UNKNOWN", status=404)
    tasks._retry_or_record(task, error, recorded.append)  # type: ignore[arg-type]
    assert recorded == ["GET x: HTTP 404 MANIFEST_UNKNOWN"] and not task.retried


def test_out_of_retries_is_recorded() -> None:
    task, recorded = FakeTask(publish_fails=False, retries=tasks.MAX_RETRIES), []
    tasks._retry_or_record(task, _server_error(), recorded.append)  # type: ignore[arg-type]
    assert recorded and not task.retried


def test_a_batch_hands_on_a_transient_failure_and_records_a_permanent_one(
    redis_client: redis.Redis,
) -> None:
    sent = Recorder()
    fleet = fleet_context(redis_client, sent)
    plan = fleet.plans.create({})
    fleet.plans.bump(plan, tags_total=2)
    flaky, gone = tag_job("flaky", "rule"), tag_job("gone", "rule")
    errors: list[tuple[TagJob, Exception]] = [
        (flaky, _server_error()),
        (gone, NotFoundError("HEAD x: HTTP 404 MANIFEST_UNKNOWN", status=404)),
    ]

    outcomes = tasks._settle_errors(FakeTask(False), fleet, plan, errors)  # type: ignore[arg-type]

    assert outcomes == {"handed on": 1, "failed": 1}
    [(name, body, _)] = sent.sent
    assert name == settings.SYNC_TAG
    assert SyncTag.from_body(body) == SyncTag(plan, str(flaky.source), str(flaky.dest), "rule")
    [result] = fleet.plans.status(plan).results
    assert (result.dest, result.status) == (str(gone.dest), "failed")
    assert "MANIFEST_UNKNOWN" in result.reason


def test_a_redis_error_in_a_batch_fails_the_batch_before_anything_is_handed_on(
    redis_client: redis.Redis,
) -> None:
    sent = Recorder()
    fleet = fleet_context(redis_client, sent)
    errors: list[tuple[TagJob, Exception]] = [
        (tag_job("a", "rule"), _server_error()),
        (tag_job("b", "rule"), StateError("fleet state: ConnectionError")),
    ]
    with pytest.raises(StateError):
        tasks._settle_errors(FakeTask(False), fleet, "p", errors)  # type: ignore[arg-type]
    assert sent.sent == []
