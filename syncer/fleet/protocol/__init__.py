"""What fleet processes agree on: Redis keys, task names, messages."""
