"""What a manifest's digest covers: its bytes, or a signed schema1 manifest's payload.

A Docker schema1 manifest is signed with JWS in "pretty" form: the signatures
sit inside the JSON, and the digest covers the manifest *without* them. Each
signature's ``protected`` header (base64url JSON) says how to rebuild that
payload: the first ``formatLength`` bytes of the body, then the base64url
``formatTail`` (the closing ``}`` and whitespace the signatures displaced).
https://github.com/distribution/distribution/blob/main/docs/content/spec/deprecated-schema-v1.md
(libtrust ``ParsePrettySignature`` is the reference implementation.)

Syncer pushes schema1 bytes unchanged; it only needs the payload to verify
the digest. A signed manifest whose payload cannot be rebuilt is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from syncer import untrusted
from syncer.errors import UnsupportedError
from syncer.oci import mediatypes

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
#: Types under which distribution reads a body as (possibly signed) schema1.
_MAYBE_SCHEMA1 = frozenset({*mediatypes.SCHEMA1_TYPES, "", "application/json"})


def digested_bytes(body: bytes, media_type: str, what: str) -> bytes:
    """The bytes ``body``'s digest is computed over."""
    if media_type not in _MAYBE_SCHEMA1:
        return body
    doc = _object(body)
    if doc is not None and "signatures" in doc:
        return canonical_payload(body, what)
    if media_type == mediatypes.DOCKER_MANIFEST_V1_SIGNED:
        raise UnsupportedError(f"{what}: signed schema1 manifest without signatures")
    return body


def canonical_payload(body: bytes, what: str) -> bytes:
    """The signed payload of a pretty-JWS schema1 manifest; every signature must agree."""
    doc = _object(body)
    sigs = doc.get("signatures") if doc is not None else None
    if not isinstance(sigs, list) or not sigs:
        raise UnsupportedError(f"{what}: schema1 manifest has no signatures to find its payload")
    payloads = {_payload(body, sig, what) for sig in sigs}
    if len(payloads) != 1:
        raise UnsupportedError(f"{what}: schema1 signatures disagree on the signed payload")
    return payloads.pop()


def _payload(body: bytes, sig: Any, what: str) -> bytes:
    protected = sig.get("protected") if isinstance(sig, dict) else None
    header = _object(_b64url(protected, what)) if isinstance(protected, str) else None
    if header is None:
        raise UnsupportedError(f"{what}: schema1 signature has no protected header")
    length, tail = header.get("formatLength"), header.get("formatTail")
    if type(length) is not int or not 0 <= length <= len(body) or not isinstance(tail, str):
        raise UnsupportedError(f"{what}: schema1 protected header has no usable format fields")
    return body[:length] + _b64url(tail, what)


def _b64url(text: str, what: str) -> bytes:
    # JOSE base64url drops the padding (RFC 7515 section 2); put it back to decode.
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise UnsupportedError(f"{what}: schema1 signature field is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise UnsupportedError(f"{what}: schema1 signature field is not base64url") from None


def _object(data: bytes) -> dict[str, Any] | None:
    try:
        doc = untrusted.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
