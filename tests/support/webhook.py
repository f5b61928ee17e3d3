"""A ``syncer webhook`` process for the mirror-on-push tests, and the events registries send."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.support.processes import ManagedProcess, fleet_env


class WebhookProcess(ManagedProcess):
    """``python -m syncer webhook`` on a free loopback port, with its secret in the environment."""

    def __init__(self, redis_url: str, home: Path, config: Path, secret: str, port: int) -> None:
        env = fleet_env(redis_url, home, {"SYNCER_WEBHOOK_SECRET": secret})
        argv = [sys.executable, "-m", "syncer", "webhook", "--config", str(config)]
        argv += ["--addr", "127.0.0.1", "--port", str(port)]  # the default --coalesce
        super().__init__(f"webhook-{port}", argv, env, home / f"webhook-{port}.log")
        self.port = port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        """Block until it says it listens."""
        self.wait_for_log(r"syncer webhook on http://")


def notify_endpoint(url: str, secret: str) -> dict[str, Any]:
    """A distribution ``notifications.endpoints`` entry that sends to ``url`` with the secret."""
    return {
        "name": "syncer",
        "url": url,
        "headers": {"Authorization": [f"Bearer {secret}"]},
        "timeout": "2s",
        "threshold": 3,
        "backoff": "1s",
    }
