"""Fault injection (issue #5): every image ends synced and verified, or failed with a reason."""
