"""Image formats: references, digests, media types, manifests (no I/O)."""
