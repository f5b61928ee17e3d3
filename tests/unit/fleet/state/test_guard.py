"""The fleet's Redis policies: guard raises StateError, best_effort swallows; text decodes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from syncer.errors import ConfigError, StateError, is_transient
from syncer.fleet.state.guard import Attempt, best_effort, guard, text
from tests.support.redis_away import stopped_redis


@pytest.fixture(scope="module")
def gone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """A client whose redis-server has been stopped."""
    with stopped_redis(Path(tmp_path_factory.mktemp("redis-gone"))) as client:
        yield client


# -- guard -----------------------------------------------------------------------------
def test_guard_turns_a_stopped_redis_into_a_transient_state_error(gone: redis.Redis) -> None:
    with pytest.raises(StateError) as info, guard("plan state"):
        gone.get("syncer:anything")
    assert str(info.value) == "plan state unavailable: ConnectionError"
    assert is_transient(info.value), "a task retries it rather than failing the image"
    assert isinstance(info.value.__cause__, redis.ConnectionError), "chained with from exc"


def test_guard_also_maps_the_errors_it_is_given() -> None:
    with pytest.raises(StateError, match="^broker unavailable: ConfigError$"):
        with guard("broker", ConfigError):
            raise ConfigError("stand-in for kombu's OperationalError")


def test_guard_leaves_other_errors_and_results_alone() -> None:
    with pytest.raises(KeyError), guard("plan state"):
        raise KeyError("not a Redis problem")
    with guard("plan state"):
        value = 42
    assert value == 42


# -- best_effort -----------------------------------------------------------------------
def test_best_effort_swallows_a_stopped_redis_and_says_so(
    gone: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="syncer.fleet.state.guard")
    reached_after = False
    with best_effort("resuming is an optimisation") as attempt:
        gone.set("syncer:upload:x", "url")
        reached_after = True
    assert attempt.failed and isinstance(attempt.error, redis.ConnectionError)
    assert not reached_after, "the block stops at the failed call"
    assert "resuming is an optimisation" in caplog.text


def test_best_effort_that_ran_through_has_no_error() -> None:
    with best_effort("advice") as attempt:
        pass
    assert attempt == Attempt() and not attempt.failed


def test_best_effort_swallows_only_redis_and_the_errors_it_is_given() -> None:
    with best_effort("auth file may be gone", ConfigError) as attempt:
        raise ConfigError("missing")
    assert isinstance(attempt.error, ConfigError)
    with pytest.raises(ValueError), best_effort("advice"):
        raise ValueError("a bug is not swallowed")


# -- text ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "expected"),
    [(b"w1@host", "w1@host"), ("w1@host", "w1@host"), ("é".encode(), "é"), (7, "7"), (None, None)],
)
def test_text_decodes_any_redis_reply(
    reply: bytes | str | int | None, expected: str | None
) -> None:
    assert text(reply) == expected
