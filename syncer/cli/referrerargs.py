"""``--referrers`` and ``--referrers-type``, shared by ``sync`` and ``plan``."""

from __future__ import annotations

import argparse
from typing import Any

from syncer.config.referrers import artifact_types


def add_referrer_arguments(p: argparse.ArgumentParser) -> None:
    """Add the referrer flags to ``p``."""
    p.add_argument(
        "--referrers",
        action="store_true",
        help="also copy what refers to each image: signatures, SBOMs, attestations",
    )
    p.add_argument(
        "--referrers-type",
        action="append",
        default=[],
        metavar="ARTIFACT_TYPE",
        help="only referrers of these artifact types (repeatable, comma lists; sets --referrers)",
    )


def referrer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The SyncOptions fields behind the flags; a bad type is a ConfigError."""
    raw = [t.strip() for item in getattr(args, "referrers_type", []) for t in item.split(",")]
    types = artifact_types([t for t in raw if t], "--referrers-type") if any(raw) else ()
    return {"referrers": bool(getattr(args, "referrers", False) or types), "referrer_types": types}
