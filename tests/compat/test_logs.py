"""Row 7: --log FILE is written like image-syncer's: logrus lines, truncated, one closing line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lab.content import ImageSet
from lab.registry import RegistryServer
from tests.support.compat import FINISHED, Side, run_both, run_both_as_script
from tests.support.compat_cases import split

Source = tuple[RegistryServer, ImageSet]
MakeDest = Callable[[], RegistryServer]

#: One logrus TextFormatter line with FullTimestamp, as image-syncer writes it.
LOGRUS = re.compile(
    r'time="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d" level=(debug|info|warning|error|fatal)'
    r' msg=("(?:[^"\\]|\\.)*"|[\w\-./@^+]+)( \w+=("(?:[^"\\]|\\.)*"|\S+))*'
)
#: The closing line's cost, as Go's time.Duration prints it.
COST = re.compile(r'cost (\d+h)?(\d+m)?\d+(\.\d+)?(ms|µs|s)\.\\?"?')
# One retry: a transient hiccup of either tool must not fail a case that expects success.
LOG = ["--log", "run.log", "-r", "1"]


def log_lines(side: Side) -> list[str]:
    text = side.file("run.log")
    assert text is not None, side
    return text.splitlines()


def failed_count(side: Side) -> int:
    line = side.finished_line()
    assert line is not None, side
    found = FINISHED.search(line)
    assert found is not None
    return int(found.group(1))


def test_every_line_is_logrus_and_the_last_is_the_summary(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """Both files parse as logrus lines and end with `Synchronization finished, 0 tasks …`.

    The file is truncated per run: an earlier run's lines are gone.
    """
    rules = {"SRC/lab/app0:v1": "DST/mirror/app0", "SRC/lab/multi:index": "DST/mirror/multi"}
    stale = 'time="2000-01-01 00:00:00" level=info msg="stale line from an earlier run"\n' * 50
    writer = split(rules, args=LOG, files={"run.log": stale})
    oracle, ours = run_both(tmp_path, shared_source[0].host, make_dest, writer)
    assert oracle.ok and ours.ok, (oracle, ours)
    for side in (oracle, ours):
        assert "stale line" not in (side.file("run.log") or ""), side.tool
        lines = log_lines(side)
        assert lines, side
        bad = [line for line in lines if not LOGRUS.fullmatch(line)]
        assert bad == [], (side.tool, bad)
        assert FINISHED.search(lines[-1]), (side.tool, lines[-1])
        assert sum(1 for line in lines if FINISHED.search(line)) == 1
        assert COST.search(lines[-1]), (side.tool, lines[-1])
        assert failed_count(side) == 0
    assert ours.tags("mirror/multi") == oracle.tags("mirror/multi") == ["index"]


@pytest.mark.parametrize(
    ("rules", "want"),
    [
        ({"SRC/lab/app0:v1,nope": "DST/mirror/app0"}, ["v1"]),
        ({"SRC/lab/absent": "DST/mirror/absent", "SRC/lab/app0:v2": "DST/mirror/app0"}, ["v2"]),
    ],
    ids=["missing-tag", "missing-repository"],
)
def test_failed_count_means_the_same(
    rules: dict[str, str],
    want: list[str],
    shared_source: Source,
    make_dest: MakeDest,
    tmp_path: Path,
) -> None:
    """A missing tag, or a repository that cannot be listed: `1 tasks failed` in both.

    The success-images file lists only what was copied, the same bytes in both.
    """
    args = [*LOG, "--output-success-images", "ok.yaml"]
    oracle, ours = run_both_as_script(
        tmp_path, shared_source[0].host, make_dest, split(rules, args=args)
    )
    assert oracle.code != 0 and ours.code == 1, (oracle, ours)
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == want
    assert failed_count(oracle) == failed_count(ours) == 1
    for side in (oracle, ours):
        errors = [line for line in log_lines(side) if "level=error" in line]
        assert errors, side
        assert LOGRUS.fullmatch(errors[-1]), errors[-1]
    theirs, mine = (
        (side.file("ok.yaml") or "").replace(side.dest.host, "DST") for side in (oracle, ours)
    )
    assert mine == theirs
    assert yaml.safe_load(mine) == {
        f"{shared_source[0].host}/lab/app0:{tag}": [f"DST/mirror/app0:{tag}"] for tag in want
    }


def test_control_characters_stay_escaped(
    shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """A rule holding ESC and a newline: no raw control character in either log."""
    rules = {"SRC/lab/app0:v1\x1b[31m\nforged": "DST/mirror/app0", "SRC/lab/app0:v2": "DST/m/a"}
    oracle, ours = run_both(tmp_path, shared_source[0].host, make_dest, split(rules, args=LOG))
    assert oracle.code != 0 and ours.code != 0, (oracle, ours)
    for side in (oracle, ours):
        for stream in (side.file("run.log") or "", side.err, side.out):
            assert "\x1b" not in stream and "\nforged" not in stream, side.tool
        assert side.tags("mirror/app0") == [], side


@pytest.mark.parametrize("where", ["no/such/dir/run.log", ""], ids=["unwritable", "empty"])
def test_a_log_that_cannot_be_written_goes_to_stderr(
    where: str, shared_source: Source, make_dest: MakeDest, tmp_path: Path
) -> None:
    """pkg/client/logger.go NewFileLogger: a --log that does not open leaves logrus on
    stderr, and the sync runs; syncer does the same and says why first."""
    rules = {"SRC/lab/app0:v1": "DST/mirror/app0"}
    writer = split(rules, args=["--log", where])
    oracle, ours = run_both_as_script(tmp_path, shared_source[0].host, make_dest, writer)
    assert oracle.ok and "Failed to log to file" in oracle.err, oracle
    assert ours.ok, ours
    assert oracle.tags("mirror/app0") == ours.tags("mirror/app0") == ["v1"]
    assert FINISHED.search(oracle.err) and FINISHED.search(ours.err)
    if where:
        assert f"--log {where}: No such file or directory: logging to stderr" in ours.err
