"""Distributed mode against real ``redis-server``, Celery worker and Flower processes."""
