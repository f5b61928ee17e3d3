"""Distributed mode: Redis state shared by a fleet of Celery workers.

Nothing here imports Celery or ``workers/``: these are plain classes over an
injected ``redis.Redis`` client, and the step functions the thin tasks call.
"""
