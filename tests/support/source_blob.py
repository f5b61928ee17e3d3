"""One small blob at a source registry, as the blob reader and transfer tests read it."""

from __future__ import annotations

import hashlib

from syncer.oci.reference import Repository

DATA = b"0123456789"
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
SRC = Repository.parse("src.example/team/app")
#: Where the fake transport answers for the blob.
SRC_BLOB = f"https://src.example/v2/team/app/blobs/{DIGEST}"
