"""Defaults and their ``SYNCER_*`` overrides (syncer.defaults): read, checked, refused early."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from syncer import defaults
from syncer.errors import ConfigError

SECONDS: list[tuple[str, Callable[[], float], float]] = [
    ("SYNCER_REQUEST_DEADLINE", defaults.request_deadline, defaults.REQUEST_DEADLINE),
    ("SYNCER_MIN_RATE", defaults.min_rate, defaults.MIN_RATE),
    ("SYNCER_RATE_WINDOW", defaults.rate_window, defaults.RATE_WINDOW),
]
COUNTS: list[tuple[str, Callable[[], float], float]] = [
    ("SYNCER_MAX_MANIFEST", defaults.max_manifest, defaults.MAX_MANIFEST),
    ("SYNCER_MAX_TAG_PAGES", defaults.max_tag_pages, defaults.MAX_TAG_PAGES),
    ("SYNCER_MAX_TAGS", defaults.max_tags, defaults.MAX_TAGS),
]


@pytest.mark.parametrize(
    ("name", "read", "default", "text", "value"),
    [(*knob, " 2.5 ", 2.5) for knob in SECONDS] + [(*knob, "12", 12) for knob in COUNTS],
)
def test_a_variable_overrides_its_default_and_blank_means_unset(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    read: Callable[[], float],
    default: float,
    text: str,
    value: float,
) -> None:
    monkeypatch.delenv(name, raising=False)
    assert read() == default
    monkeypatch.setenv(name, "  ")
    assert read() == default
    monkeypatch.setenv(name, text)
    assert read() == value


@pytest.mark.parametrize("text", ["0", "-1", "inf", "nan", "soon"])
@pytest.mark.parametrize(("name", "read", "default"), SECONDS)
def test_a_bad_number_of_seconds_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    read: Callable[[], float],
    default: float,
    text: str,
) -> None:
    monkeypatch.setenv(name, text)
    with pytest.raises(ConfigError, match=rf"^\${name}: '{text}' is not a positive number$"):
        read()


@pytest.mark.parametrize("text", ["0", "-3", "1.5", "many"])
def test_check_limits_refuses_a_bad_limit_at_once(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("SYNCER_MAX_TAGS", text)
    with pytest.raises(ConfigError, match=r"^\$SYNCER_MAX_TAGS must be a positive whole number"):
        defaults.check_limits()


def test_a_long_bad_value_is_cut_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_MAX_MANIFEST", "x" * 200)
    with pytest.raises(ConfigError) as info:
        defaults.max_manifest()
    assert "x" * 40 in str(info.value) and "x" * 41 not in str(info.value)


def test_the_blob_cache_follows_xdg_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert defaults.blob_cache_file() == tmp_path / "syncer" / "blobs.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert defaults.cache_dir() == tmp_path / "home" / ".cache" / "syncer"
