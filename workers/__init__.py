"""Celery workers for syncer: the app and thin tasks over the engine in ``syncer``."""
