"""Unit tests for syncer.errors: the one-line failure reason."""

from __future__ import annotations

from syncer.errors import ConfigError, describe


def test_describe_folds_whitespace_to_one_line() -> None:
    assert describe(ConfigError("bad\n  key:\tvalue ")) == "bad key: value"


def test_describe_names_the_class_of_an_empty_error() -> None:
    assert describe(KeyError()) == "KeyError"
    assert describe(ConfigError("")) == "ConfigError"
