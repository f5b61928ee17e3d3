"""Build Docker schema1 manifests signed in libtrust's "pretty JWS" form, without syncer code.

The signatures are not cryptographically valid (the key and signature are
placeholders): only the ``protected`` header's ``formatLength`` and
``formatTail`` matter for the digest, which covers the manifest without its
signatures. That is all syncer checks, and all these helpers promise.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def b64url(data: bytes) -> str:
    """JOSE base64url, without padding."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def protected(length: int, tail: bytes) -> str:
    """A protected header naming how the payload is rebuilt from the signed body."""
    header = {"formatLength": length, "formatTail": b64url(tail), "time": "2016-01-01T00:00:00Z"}
    return b64url(json.dumps(header).encode())


def signature(length: int, tail: bytes) -> dict[str, Any]:
    """One placeholder signature block (its ``signature`` does not verify)."""
    return {
        "header": {"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, "alg": "ES256"},
        "signature": "c2lnbmF0dXJl",
        "protected": protected(length, tail),
    }


def signed_schema1(blob_sums: list[str], *, signatures: int = 1) -> tuple[bytes, str]:
    """A pretty-JWS schema1 manifest over ``blob_sums``: ``(body, digest of its payload)``."""
    doc = {
        "schemaVersion": 1,
        "name": "lab/app",
        "tag": "v1",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": b} for b in blob_sums],
        "history": [{"v1Compatibility": json.dumps({"id": str(i)})} for i in range(len(blob_sums))],
    }
    payload = json.dumps(doc, indent=3).encode()
    # libtrust cuts the payload before its closing "\n}" and appends the signatures there.
    length = payload.rindex(b"\n}")
    tail = payload[length:]
    sigs = json.dumps([signature(length, tail) for _ in range(signatures)], indent=3)
    body = payload[:length] + b',\n   "signatures": ' + sigs.encode() + b"\n}"
    return body, "sha256:" + hashlib.sha256(payload).hexdigest()
