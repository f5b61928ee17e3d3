"""The embedded executor: one process, thread pools, no Redis."""
