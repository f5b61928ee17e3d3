"""``--referrers`` and ``--referrers-type`` (syncer.cli.referrerargs) set the sync options."""

from __future__ import annotations

import argparse

import pytest

from syncer.cli.args import add_config_arguments, sync_options
from syncer.cli.referrerargs import add_referrer_arguments, referrer_options
from syncer.config.files import ConfigError
from tests.support.referrers import SPDX


def _options(*argv: str) -> tuple[bool, tuple[str, ...]]:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    options = sync_options(parser.parse_args(list(argv)))
    return options.referrers, options.referrer_types


def test_the_flags_set_the_options() -> None:
    assert _options() == (False, ())
    assert _options("--referrers") == (True, ())
    both = ("--referrers-type", f"{SPDX}, a/b", "--referrers-type", "c/d")
    assert _options(*both) == (True, (SPDX, "a/b", "c/d"))
    with pytest.raises(ConfigError, match="--referrers-type: 'sbom' is not an artifact type"):
        _options("--referrers-type", "sbom")


def test_referrer_options_read_both_flags_and_split_comma_lists() -> None:
    parser = argparse.ArgumentParser()
    add_referrer_arguments(parser)
    args = parser.parse_args(["--referrers-type", f"{SPDX}, a/b", "--referrers-type", "a/b"])
    assert referrer_options(args) == {"referrers": True, "referrer_types": (SPDX, "a/b")}
    assert referrer_options(parser.parse_args([])) == {"referrers": False, "referrer_types": ()}
