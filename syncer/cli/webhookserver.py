"""The HTTP side of ``syncer webhook``: authentication, limits, routes and metrics.

Every request is authenticated before its body is read: the shared secret
(``$SYNCER_WEBHOOK_SECRET`` or ``$SYNCER_WEBHOOK_SECRET_FILE``) in an
``Authorization: Bearer`` or ``X-Syncer-Secret`` header, or as the last part of
the path (``/webhook/<secret>``) for senders that cannot set headers. It is
compared in constant time and never logged: the access log masks the path.
Bodies are capped (:data:`~syncer.defaults.WEBHOOK_MAX_BODY`), headers and body
must arrive within :data:`~syncer.defaults.WEBHOOK_REQUEST_TIMEOUT`, and the
answer (202) goes out before anything is planned: :mod:`syncer.fleet.onpush`
plans on its own thread. ``/healthz`` answers without the secret; ``/metrics``
serves the Prometheus counters below.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable

import tornado.httpserver
import tornado.web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from syncer import defaults
from syncer.config.rules import Rule
from syncer.errors import ConfigError
from syncer.fleet.onpush import Batcher, select
from syncer.fleet.pushevents import REASONS, BadEvent, Ignored, parse_body

log = logging.getLogger("syncer.webhook")

#: Buckets of the push-to-synced histogram, in seconds.
_BUCKETS = (0.5, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 300, 600)


class Metrics:
    """The webhook's counters, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("syncer_webhook_events_received", "Events received", registry=r)
        self.accepted = Counter(
            "syncer_webhook_events_accepted", "Pushed tags some rule selects", registry=r
        )
        self.ignored = Counter(
            "syncer_webhook_events_ignored", "Events that plan nothing", ["reason"], registry=r
        )
        for reason in REASONS:
            self.ignored.labels(reason)
        self.plans = Counter("syncer_webhook_plans_started", "Plans started", registry=r)
        self.latency = Histogram(
            "syncer_webhook_push_to_synced_seconds",
            "From the first event of a tag to its plan's end",
            buckets=_BUCKETS,
            registry=r,
        )


class Service:
    """What the handlers share: the rules, the secret, the batcher and the metrics."""

    def __init__(self, rules: tuple[Rule, ...], secret: str, batcher: Batcher) -> None:
        self.rules = rules
        self.secret = secret.encode()
        self.batcher = batcher
        self.metrics = Metrics()

    def authentic(self, given: str) -> bool:
        """Whether ``given`` is the secret (constant time)."""
        return hmac.compare_digest(given.encode(), self.secret)

    def take(self, body: bytes) -> dict[str, int]:
        """Read a body's events and queue what the rules select; counts for the answer."""
        events = parse_body(body)
        self.metrics.received.inc(len(events))
        queued = coalesced = ignored = 0
        for event in events:
            chosen = event if isinstance(event, Ignored) else select(self.rules, event)
            if isinstance(chosen, Ignored):
                self.metrics.ignored.labels(chosen.reason).inc()
                ignored += 1
                continue
            self.metrics.accepted.inc()
            new = self.batcher.add(chosen)
            queued += new
            coalesced += len(chosen) - new
        return {"events": len(events), "queued": queued, "coalesced": coalesced, "ignored": ignored}


@tornado.web.stream_request_body
class HookHandler(tornado.web.RequestHandler):
    """``POST /webhook`` (secret in a header) and ``POST /webhook/<secret>``."""

    service: Service

    def initialize(self, service: Service) -> None:
        """Tornado's per-request setup."""
        self.service = service
        self._body = bytearray()
        self._too_large = False

    def prepare(self) -> Awaitable[None] | None:
        """Refuse an unauthenticated request before reading its body."""
        if self.request.method != "POST":
            return None
        if not self.service.authentic(self._given()):
            self.service.metrics.received.inc()
            self.service.metrics.ignored.labels("unauthorized").inc()
            self.set_status(401)
            self.finish({"error": "unauthorized"})
        return None

    def _given(self) -> str:
        tail = self.path_kwargs.get("secret") or ""
        header = self.request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :].strip()
        return str(tail or self.request.headers.get("X-Syncer-Secret", ""))

    def data_received(self, chunk: bytes) -> None:
        """Collect the body, up to the cap."""
        if len(self._body) + len(chunk) > defaults.WEBHOOK_MAX_BODY:
            self._too_large = True
            return
        self._body += chunk

    def post(self, secret: str | None = None) -> None:
        """Answer at once; the batcher plans after the window."""
        metrics = self.service.metrics
        if self._too_large:
            metrics.received.inc()
            metrics.ignored.labels("too_large").inc()
            self.set_status(413)
            self.finish({"error": f"body over {defaults.WEBHOOK_MAX_BODY} bytes"})
            return
        try:
            counts = self.service.take(bytes(self._body))
        except BadEvent as exc:
            metrics.received.inc()
            metrics.ignored.labels("bad_request").inc()
            self.set_status(400)
            self.finish({"error": str(exc)})
            return
        self.set_status(202)
        self.finish(counts)


class HealthHandler(tornado.web.RequestHandler):
    """``GET /healthz``: the service is up."""

    def get(self) -> None:
        """Answer ``ok``."""
        self.finish("ok\n")


class MetricsHandler(tornado.web.RequestHandler):
    """``GET /metrics``: the Prometheus text format."""

    def initialize(self, service: Service) -> None:
        """Tornado's per-request setup."""
        self.service = service

    def get(self) -> None:
        """The counters."""
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.service.metrics.registry))


def _access_log(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access line without the path's secret."""
    request = handler.request
    path = "/webhook/***" if request.path.startswith("/webhook/") else request.path
    log.info(
        "%d %s %s (%s) %.1fms",
        handler.get_status(),
        request.method,
        path,
        request.remote_ip,
        1000.0 * request.request_time(),
    )


def application(service: Service) -> tornado.web.Application:
    """The routes."""
    return tornado.web.Application(
        [
            (r"/webhook", HookHandler, {"service": service}),
            (r"/webhook/(?P<secret>[^/]{1,256})", HookHandler, {"service": service}),
            (r"/healthz", HealthHandler),
            (r"/metrics", MetricsHandler, {"service": service}),
        ],
        log_function=_access_log,
    )


def serve(
    app: tornado.web.Application,
    addr: str,
    port: int,
    timeout: float = defaults.WEBHOOK_REQUEST_TIMEOUT,
) -> tornado.httpserver.HTTPServer:
    """Listen with the body cap and the request deadlines (``timeout`` for headers, and body)."""
    server = tornado.httpserver.HTTPServer(
        app,
        idle_connection_timeout=timeout,  # also the time to send the headers
        body_timeout=timeout,
        # Past the cap a body is read (and dropped) to answer 413; past twice it,
        # tornado closes the connection unread.
        max_body_size=2 * defaults.WEBHOOK_MAX_BODY,
        max_header_size=16 << 10,
    )
    try:
        server.listen(port, addr)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {addr}:{port}: {exc.strerror}") from None
    return server
