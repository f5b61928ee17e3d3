"""``syncer worker --metrics-port`` and ``syncer metrics``: flags reach the serving process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from syncer import defaults
from syncer.cli import fleet, main
from syncer.errors import ConfigError
from tests.unit.cli.test_fleet import _parse, supervised  # noqa: F401 - the fixture, by name

Started = list[tuple[Sequence[str], Mapping[str, str]]]


def test_a_worker_serves_metrics_only_when_asked(
    supervised: Started,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SYNCER_METRICS_PORT", raising=False)
    monkeypatch.delenv("SYNCER_METRICS_ADDR", raising=False)
    assert fleet.cmd_worker(_parse("worker")) == 0
    assert (
        fleet.cmd_worker(_parse("worker", "--metrics-port", "9808", "--metrics-addr", "0.0.0.0"))
        == 0
    )
    [(_, plain), (_, metered)] = supervised
    assert "SYNCER_METRICS_PORT" not in plain and "SYNCER_METRICS_ADDR" not in plain
    assert metered["SYNCER_METRICS_PORT"] == "9808" and metered["SYNCER_METRICS_ADDR"] == "0.0.0.0"


def test_a_worker_refuses_a_port_that_is_not_one(supervised: Started) -> None:  # noqa: F811
    with pytest.raises(ConfigError, match="--metrics-port"):
        fleet.cmd_worker(_parse("worker", "--metrics-port", "70000"))
    assert supervised == []


def test_syncer_metrics_binds_loopback_on_its_port_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SYNCER_METRICS_ADDR", raising=False)
    args = main.build_parser().parse_args(["metrics"])
    assert (
        (args.addr, args.port)
        == (defaults.METRICS_ADDR, defaults.METRICS_PLAN_PORT)
        == ("127.0.0.1", 9809)
    )
