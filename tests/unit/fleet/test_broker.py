"""The broker: one redis-py client per pool (against a real Redis), and what Flower shows.

Flower shows each kind of task with readable arguments, never a credential.
"""

from __future__ import annotations

import kombu

from syncer import defaults
from syncer.fleet.broker import summarize_kwargs
from syncer.fleet.protocol import settings


def test_channel_reuses_one_client_and_follows_a_new_pool(redis_server: str) -> None:
    with kombu.Connection(redis_server, transport=settings.BROKER_TRANSPORT) as conn:
        channel = conn.default_channel
        assert type(channel).__module__ == "syncer.fleet.broker"
        first = channel._create_client()
        assert channel._create_client() is first
        assert channel._create_client(asynchronous=True) is not first

        queue = kombu.Queue("syncer-broker-test", routing_key="syncer-broker-test")
        with conn.Producer() as producer:
            producer.publish({"n": 1}, routing_key=queue.routing_key, declare=[queue])
        message = queue(channel).get(no_ack=True)
        assert message is not None and message.payload == {"n": 1}

        channel._pool = None  # what kombu does after a connection loss
        assert channel._create_client() is not first


A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def test_a_blob_task_reads_as_key_value_pairs() -> None:
    text = summarize_kwargs({"plan": "p1", "dst": "reg/mirror/app", "digest": A, "size": 7})
    assert text == f"plan=p1 dst=reg/mirror/app digest={A} size=7"


def test_a_batch_lists_each_blob_with_its_size() -> None:
    blobs = [
        {"media_type": "x", "digest": A, "size": 1048576},
        {"media_type": "y", "digest": B, "size": 3},
    ]
    text = summarize_kwargs({"plan": "p1", "dst": "reg/mirror/app", "blobs": blobs})
    assert text == f"plan=p1 dst=reg/mirror/app blobs=2 blobs: {A} size=1048576, {B} size=3"


def test_a_rule_reads_as_source_to_destinations() -> None:
    rule = {"key": "src/lab/app", "destinations": [{"repo": "d1/app"}, {"repo": "d2/app"}]}
    assert summarize_kwargs({"rule": rule}) == "rule=src/lab/app -> d1/app, d2/app"


def test_a_sync_tags_batch_names_every_image() -> None:
    jobs = [{"source": f"s/a:{i}", "dest": f"d/a:{i}"} for i in range(3)]
    assert summarize_kwargs({"jobs": jobs}) == (
        "jobs=3 images: s/a:0 -> d/a:0, s/a:1 -> d/a:1, s/a:2 -> d/a:2"
    )


def test_a_chunk_of_images_names_its_first_and_last() -> None:
    count = defaults.TAG_BATCH + 1
    jobs = [{"source": f"s/a:{i}", "dest": f"d/a:{i}"} for i in range(count)]
    last = count - 1
    assert summarize_kwargs({"jobs": jobs}) == (
        f"jobs={count} images (s/a:0 -> d/a:0 … s/a:{last} -> d/a:{last})"
    )
