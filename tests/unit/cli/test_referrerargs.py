"""``--referrers`` and ``--referrers-type`` (syncer.cli.referrerargs) set the sync options."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from syncer.cli.args import add_config_arguments, sync_options
from syncer.config import ConfigError, load_config
from syncer.rules import Rule
from tests.support.configfiles import write

SPDX = "application/spdx+json"
SUBJECT = "sha256:" + "a" * 64
ENTRY = {"mediaType": "m/t", "digest": "sha256:" + "b" * 64, "size": 3, "artifactType": SPDX}


def _rule(tmp_path: Path, value: object) -> Rule:
    path = write(tmp_path, "images.json", {"s.io/app": {"to": "d.io/x", "referrers": value}})
    (rule,) = load_config(images=path, environ={}).rules
    return rule


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
