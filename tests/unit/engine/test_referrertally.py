"""The cap on referrers per image (syncer.engine.referrertally)."""

from __future__ import annotations

import pytest

from syncer import defaults
from syncer.engine.referrertally import MemoryTally, charge
from syncer.errors import UnsupportedError, is_transient

ROOT = "src.example/app:v1 -> dst.example/app:v1"


def test_a_memory_tally_counts_per_root_and_zero_only_reads() -> None:
    tally = MemoryTally()
    assert tally.add(ROOT, 3) == 3
    assert tally.add(ROOT, 0) == 3
    assert tally.add("other", 0) == 0
    assert tally.add(ROOT, 2) == 5


def test_charges_up_to_the_cap_pass_and_the_one_past_it_is_refused_naming_root_and_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNCER_MAX_IMAGE_REFERRERS", "10")
    tally = MemoryTally()
    charge(tally, ROOT, 6)
    charge(tally, ROOT, 4)
    charge(tally, "another image", 10)  # each image has a cap of its own
    with pytest.raises(UnsupportedError) as refused:
        charge(tally, ROOT, 1)
    assert str(refused.value) == (
        f"referrers of {ROOT}: more than 10 in all, across its subjects and depths "
        "(cap $SYNCER_MAX_IMAGE_REFERRERS); not followed further"
    )
    assert not is_transient(refused.value)
    # Once past it, a mere look (the next job of the chain) is refused too.
    with pytest.raises(UnsupportedError):
        charge(tally, ROOT, 0)


def test_the_default_cap_is_the_documented_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCER_MAX_IMAGE_REFERRERS", raising=False)
    tally = MemoryTally()
    charge(tally, ROOT, defaults.MAX_IMAGE_REFERRERS)
    with pytest.raises(UnsupportedError, match="more than 1000 in all"):
        charge(tally, ROOT, 1)
