"""Fleet settings (syncer.fleet.protocol.settings): priorities, timeouts and the Celery config."""

from __future__ import annotations

import ssl

import pytest

from syncer import defaults
from syncer.fleet.protocol import keys, settings
from syncer.fleet.protocol.settings import UNACKED_SWEEP_LOCK


@pytest.mark.parametrize(
    ("size", "level"),
    [
        (0, 9),
        (-1, 9),
        ((1 << 20) - 1, 9),
        (1 << 20, 5),
        (4 << 20, 4),
        (16 << 20, 3),
        (64 << 20, 2),
        (256 << 20, 1),
        ((1 << 30) - 1, 1),
        (1 << 30, 0),
        (50 << 30, 0),
    ],
)
def test_bigger_blobs_go_first(size: int, level: int) -> None:
    assert settings.blob_priority(size) == level


def test_visibility_timeout_sets_the_refresh_and_the_lock_lifetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SYNCER_VISIBILITY_TIMEOUT", raising=False)
    assert defaults.visibility_timeout() == defaults.VISIBILITY_TIMEOUT
    assert settings.lock_ttl() == 20.0, "a third of 60 s"
    monkeypatch.setenv("SYNCER_VISIBILITY_TIMEOUT", "600")
    assert settings.visibility_refresh() == 150.0
    assert settings.lock_ttl() == 60.0, "never longer than a minute"
    monkeypatch.setenv("SYNCER_VISIBILITY_TIMEOUT", "1")
    assert settings.visibility_refresh() == 0.5
    assert settings.lock_ttl() == 5.0, "never shorter than 5 s"


def test_celery_config_acknowledges_late_and_speaks_json_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNCER_VISIBILITY_TIMEOUT", "300")
    config = settings.celery_config("redis://127.0.0.1:6379/0")
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1
    assert config["accept_content"] == ["json"] and config["task_serializer"] == "json"
    options = config["broker_transport_options"]
    assert options["visibility_timeout"] == 300
    assert options["unacked_restore_interval"] == 10
    # A sweep's lock left by a killed worker must not stop every sweep for 5 minutes.
    assert options["unacked_mutex_expire"] == UNACKED_SWEEP_LOCK <= 10
    assert options["unacked_index_key"] == keys.unacked_index()
    assert options["priority_steps"] == list(range(10))


def test_celery_config_names_the_sharing_transport() -> None:
    config = settings.celery_config("redis://127.0.0.1:6379/0")
    assert config["broker_transport"] == settings.BROKER_TRANSPORT
    assert "broker_use_ssl" not in config


def test_rediss_without_options_verifies_certificates() -> None:
    bare = settings.celery_config("rediss://127.0.0.1:6380/0")
    assert bare["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    explicit = settings.celery_config("rediss://127.0.0.1:6380/0?ssl_cert_reqs=none")
    assert "broker_use_ssl" not in explicit  # the URL's own choice stands
