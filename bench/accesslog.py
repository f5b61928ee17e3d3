"""Reading one run's slice of a registry access log.

distribution writes one combined-log-format line per request::

    10.200.0.11 - - [27/Nov/2026:18:18:03 +0000] "GET /v2/a/manifests/v1 HTTP/1.1" 200 123 "" "ua"

A run remembers the log size before it starts (:meth:`BenchRegistry.log_size`)
and reads only what was appended after that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lab.registry import PROBE_AGENT

_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) (?P<size>\d+|-) '
    r'"[^"]*" "(?P<agent>[^"]*)"$',
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Traffic:
    """What one run asked of a registry."""

    #: GET requests for manifests (by tag or digest).
    manifest_gets: int
    #: HEAD requests for manifests.
    manifest_heads: int
    #: Response bytes of successful blob GETs: the bytes read from this registry.
    blob_bytes: int
    requests: int


def read_window(log_path: Path, start: int) -> str:
    """The log text appended since byte offset ``start``."""
    with open(log_path, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace")


def traffic(log_path: Path, start: int) -> Traffic:
    """Count manifest GETs/HEADs and blob bytes served since offset ``start``."""
    gets = heads = blob_bytes = total = 0
    for m in _LINE.finditer(read_window(log_path, start)):
        if m["agent"] == PROBE_AGENT:
            continue
        total += 1
        path, method = m["path"], m["method"]
        if "/manifests/" in path:
            gets += method == "GET"
            heads += method == "HEAD"
        elif "/blobs/sha256:" in path and method == "GET" and m["status"] in ("200", "206"):
            blob_bytes += int(m["size"]) if m["size"] != "-" else 0
    return Traffic(gets, heads, blob_bytes, total)


def requests_in(text: str, path_part: str = "", status: str = "") -> int:
    """Requests in an access log ``text`` whose path holds ``path_part`` (and answered ``status``).

    The lab's readiness probes are not counted.
    """
    return sum(
        1
        for m in _LINE.finditer(text)
        if m["agent"] != PROBE_AGENT
        and path_part in m["path"]
        and (not status or m["status"] == status)
    )


_APP_LINE = re.compile(
    r'time="(?P<time>[^"]+)" level=info msg="response completed".*?'
    r"http\.request\.method=(?P<method>[A-Z]+) .*?http\.request\.uri=(?P<uri>\S+) .*?"
    r"http\.response\.duration=(?P<duration>\S+)"
)
_DURATION_PART = re.compile(r"([0-9.]+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """Seconds in a Go duration string such as ``1m2.5s`` or ``4.9ms``."""
    return sum(float(n) * _UNIT[u] for n, u in _DURATION_PART.findall(text))


def _seconds(stamp: str) -> float:
    """Seconds of the day of an RFC 3339 UTC timestamp with nanoseconds."""
    clock = stamp.split("T", 1)[1].rstrip("Z")
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s[:15])


def max_concurrent(log_path: Path, start: int, method: str, uri_contains: str) -> int:
    """Most requests matching ``method`` and ``uri_contains`` that were in flight at once.

    Each "response completed" line gives the end time and duration, hence the interval.
    """
    events: list[tuple[float, int]] = []
    for m in _APP_LINE.finditer(read_window(log_path, start)):
        if m["method"] != method or uri_contains not in m["uri"]:
            continue
        end = _seconds(m["time"])
        events += [(end - go_duration(m["duration"]), 1), (end, -1)]
    best = level = 0
    for _, delta in sorted(events):
        level += delta
        best = max(best, level)
    return best
