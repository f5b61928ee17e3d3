"""Every rule form of the compat suite, bad ones among them, for the compat and unit tests."""

from __future__ import annotations

from typing import Any


def rule_forms(first: str, second: str) -> dict[str, Any]:
    """The compat rule forms; ``first`` and ``second`` are digests of ``lab/app0`` v1 and v2."""
    return {
        "SRC/lab/app0": "DST/r/all",
        "SRC/lab/app0:v1": "DST/r/one",
        "SRC/lab/app0:v1,v2": "DST/r/two",
        "SRC/lab/app0:v2,v1,v2": "DST/r/dup",
        "SRC/lab/app0:v1,v2 ": "DST/r/space",
        "SRC/lab/app1:v1,v2": "DST/r/renamed:first,second",
        f"SRC/lab/app0@{first}": "DST/r/bydigest",
        f"SRC/lab/app0@{second}": "DST/r/digesttag:pinned",
        "SRC/lab/solo": "DST/r/solo:only",
        "SRC/lab/app1": "DST/r/many:only",
        "SRC/lab/App0:v1": "DST/r/upper",
        "SRC/lab/app0:v2": ["DST/r/listed1", "DST/r/listed2", "DST/r/listed1"],
        "SRC/lab/app1:v2": "DST/r/mismatch:a,b",
        "SRC/lab/app0:nope": "DST/r/missing",
        "SRC/lab/multi:list": "DST/r/list",
        "SRC/lab/multi:oci": "DST/r/oci",
        "SRC/lab/app1:v1": "DST/r/Upper-dest",
    }
