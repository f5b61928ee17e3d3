"""Scenario (i)'s request counts: what is a once-per-run lookup, and the per-image verdict."""

from __future__ import annotations

from bench.accesslog import requests_in
from bench.referrers import Cost, cost_of, extra_verdict, median_cost
from lab.registry import PROBE_AGENT


def line(method: str, path: str, status: int = 200, agent: str = "syncer") -> str:
    return (
        f'10.0.0.1 - - [30/Nov/2026:09:00:00 +0000] "{method} {path} HTTP/1.1" '
        f'{status} 12 "" "{agent}"'
    )


SOURCE = "\n".join(
    [
        line("HEAD", "/v2/bench/s/manifests/s00000"),
        line("GET", "/v2/bench/s/referrers/sha256:" + "a" * 64, 404),
        line("GET", "/v2/bench/s/tags/list?n=1000"),
        line("GET", "/v2/bench/s/manifests/sha256-" + "a" * 64),
        line("GET", "/v2/", agent=PROBE_AGENT),
    ]
)
DEST = "\n".join([line("HEAD", "/v2/mirror/s/manifests/s00000"), line("GET", "/v2/x/referrers/d")])


def test_requests_are_counted_by_path_and_status_without_the_lab_probe() -> None:
    assert requests_in(SOURCE) == 4
    assert requests_in(SOURCE, "/manifests/") == 2
    assert requests_in(SOURCE, "/referrers/", status="404") == 1
    assert requests_in(SOURCE, "/referrers/", status="200") == 0


def test_lookups_are_the_api_probe_that_found_none_and_tag_listings_only() -> None:
    # The destination's referrers GET answered 200: a real question, not a lookup.
    assert cost_of(SOURCE, DEST) == Cost(requests=6, lookups=2)


def test_the_verdict_counts_extra_requests_per_image_with_lookups_apart() -> None:
    plain = Cost(200, 0)

    met = extra_verdict(plain, Cost(302, 2), images=100)
    missed = extra_verdict(plain, Cost(403, 2), images=100)

    assert met.startswith("met: 1.00 extra requests per image (target <= 1)")
    assert "plus 2 once-per-run lookups: 1.02 per image all in" in met
    assert missed.startswith("MISSED: 2.01 extra requests per image")


def test_the_median_cost_is_taken_field_by_field() -> None:
    assert median_cost([Cost(10, 1), Cost(30, 3), Cost(20, 9)]) == Cost(20, 3)
