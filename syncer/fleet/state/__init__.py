"""Fleet state in Redis, one small class per concern."""
