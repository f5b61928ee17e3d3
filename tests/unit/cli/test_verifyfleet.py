"""``plan --verify`` and ``plan --prune`` flags (syncer.cli.verifyfleet)."""

from __future__ import annotations

import pytest

from syncer.cli.main import build_parser
from syncer.cli.verify import prune_limit
from syncer.cli.verifyfleet import check_flags
from syncer.errors import ConfigError


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--verify", "--prune"], "pass one of them"),
        (["--verify", "--dry-run"], "drop --dry-run"),
    ],
)
def test_meaningless_combinations_are_refused(extra: list[str], message: str) -> None:
    args = build_parser().parse_args(["plan", "--images", "i.yaml", *extra])
    with pytest.raises(ConfigError, match=message):
        check_flags(args)


def test_prune_max_comes_from_the_flag_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parse = build_parser().parse_args
    monkeypatch.delenv("SYNCER_PRUNE_MAX", raising=False)
    assert prune_limit(parse(["plan", "--images", "i", "--prune"])) == 50
    monkeypatch.setenv("SYNCER_PRUNE_MAX", "9")
    assert prune_limit(parse(["sync", "--images", "i", "--prune"])) == 9
    assert prune_limit(parse(["sync", "--images", "i", "--prune-max", "0"])) == 0
    check_flags(parse(["plan", "--images", "i", "--prune"]))
