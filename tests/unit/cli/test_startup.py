"""Start-up: a command loads only what it needs (issue #23).

``syncer --version`` and ``--help`` build every subcommand's parser; they must
not load redis, Celery or requests, which cost most of a start-up when they
did. Checked in a fresh interpreter, by the modules it loaded (no timing).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("redis", "celery", "kombu", "requests", "urllib3", "yaml", "re2", "asyncio", "tornado")

_PROBE = """
import json, sys
from syncer.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


def loaded(*argv: str) -> set[str]:
    """The top-level packages a fresh interpreter loaded running ``syncer ARGV``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [("--version",), ("--help",), ("plan", "--help")])
def test_parsers_load_no_client_library(argv: tuple[str, ...]) -> None:
    assert loaded(*argv) & set(HEAVY) == set()


def test_the_probe_sees_what_a_command_loads() -> None:
    # Positive control: the same probe does see redis when a command needs it.
    assert "redis" in loaded("plans", "--redis", "redis://127.0.0.1:1/0")
