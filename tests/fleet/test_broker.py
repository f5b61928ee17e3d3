"""The broker transport shares one redis-py client per pool, against a real Redis."""

from __future__ import annotations

import ssl

import kombu

from syncer.fleet import settings


def test_celery_config_names_the_sharing_transport() -> None:
    config = settings.celery_config("redis://127.0.0.1:6379/0")
    assert config["broker_transport"] == settings.BROKER_TRANSPORT
    assert "broker_use_ssl" not in config


def test_rediss_without_options_verifies_certificates() -> None:
    bare = settings.celery_config("rediss://127.0.0.1:6380/0")
    assert bare["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    explicit = settings.celery_config("rediss://127.0.0.1:6380/0?ssl_cert_reqs=none")
    assert "broker_use_ssl" not in explicit  # the URL's own choice stands


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
