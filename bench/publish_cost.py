"""Cost of publishing one task: ``python -m bench.publish_cost REDIS_URL [--sent-events]``.

Sends 2,000 ``syncer.sync_tag`` messages through the planner's Celery app into
an empty Redis database (which it flushes afterwards) and prints ms/message.
"""

from __future__ import annotations

import argparse
import time

import redis

from syncer.fleet.broker import CeleryDispatcher, celery_app


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "url", help="a Redis database to use and flush, e.g. redis://127.0.0.1:6379/9"
    )
    parser.add_argument("--sent-events", action="store_true", help="publish 'sent' events too")
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    app = celery_app(args.url)
    app.conf.task_send_sent_event = args.sent_events
    dispatcher = CeleryDispatcher(app)
    start = time.perf_counter()
    for i in range(args.n):
        dispatcher.send("syncer.sync_tag", {"plan": "bench", "source": f"a/b:{i}", "dest": "c/d:1"})
    elapsed = time.perf_counter() - start
    redis.Redis.from_url(args.url).flushdb()
    print(f"{args.n} messages, {elapsed / args.n * 1000:.2f} ms/message")


if __name__ == "__main__":
    main()
