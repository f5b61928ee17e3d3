"""Test helpers that do not depend on syncer: skip logic, lab registries, certs, tokens."""
