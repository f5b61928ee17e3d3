"""What a Celery app module sets up, read in a fresh process so imports never mix."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.processes import REPO_ROOT

#: The Redis URL the process is given; its password must not reach the workers' settings.
REDIS_URL = "redis://:secret@127.0.0.1:6399/4"
SHOW = """
import json, sys
import {module} as m
conf = m.app.conf
print(json.dumps({{
    "redbeat": conf.get("redbeat_redis_url"),
    "prefix": conf.get("redbeat_key_prefix"),
    "consumer": conf.worker_consumer,
    "include": list(conf.include),
    "acks_late": conf.task_acks_late,
    "steps": sorted(s if isinstance(s, str) else s.__name__ for s in m.app.steps["consumer"]),
}}))
"""


def app_settings(module: str) -> dict[str, object]:
    """The settings a fresh process importing ``module`` gets, on :data:`REDIS_URL`."""
    env = {"PATH": "/usr/bin:/bin", "SYNCER_REDIS_URL": REDIS_URL}
    out = subprocess.run(
        [sys.executable, "-c", SHOW.format(module=module)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]
