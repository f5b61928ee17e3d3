"""The deadline watchdog: the meter's arithmetic on a fake clock, then real sockets on loopback."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from syncer import defaults
from syncer.errors import CancelledError, DeadlineError
from syncer.oci.models import SizedBody
from syncer.registry import deadline, transport
from syncer.registry.deadline import Limits, Watch
from tests.support.hostile import HostileRegistry, Reply
from tests.support.waiting import wait_for


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def streaming(limits: Limits) -> tuple[Watch, Clock]:
    clock = Clock()
    watch = Watch("GET blob", limits, clock)
    watch.expect_stream()
    return watch, clock


def test_an_answer_is_due_within_the_deadline() -> None:
    clock = Clock()
    watch = Watch("GET manifest", Limits(answer=5), clock)
    clock.now += 4.9
    assert watch.breach(clock.now) == ""
    clock.now += 0.2
    assert "no answer within 5 s" in watch.breach(clock.now)


def test_a_stream_has_no_total_deadline_only_a_rate() -> None:
    watch, clock = streaming(Limits(answer=5, min_rate=10, window=2))
    for _ in range(100):  # 200 s at 50 bytes/s: slow, but well above the minimum
        with watch.flowing():
            clock.now += 2
            watch.add(100)
        assert watch.breach(clock.now) == ""


def test_a_drip_is_cut_off_after_one_window_of_waiting() -> None:
    watch, clock = streaming(Limits(min_rate=1024, window=30))
    with watch.flowing():
        clock.now += 29
        watch.add(1)
        assert watch.breach(clock.now) == "", "a grace period of one window"
        clock.now += 1
        assert "slower than 1024 bytes/s over 30 s" in watch.breach(clock.now)


def test_time_spent_away_from_the_connection_does_not_count() -> None:
    # The uploader holds the source stream while a slow destination takes its
    # bytes: that wait is the destination's, not the source's.
    watch, clock = streaming(Limits(min_rate=1024, window=30))
    for _ in range(10):
        with watch.flowing():
            clock.now += 1
            watch.add(1024)
        clock.now += 60  # away: pulling from, or pushing to, the other side
        assert watch.breach(clock.now) == ""


def test_one_good_window_does_not_excuse_a_stall_after_it() -> None:
    watch, clock = streaming(Limits(min_rate=1024, window=10))
    with watch.flowing():
        clock.now += 10
        watch.add(1 << 20)
        assert watch.breach(clock.now) == ""
        clock.now += 10
        assert watch.breach(clock.now).startswith("slower than")


def test_check_names_the_breach_or_the_interruption() -> None:
    watch = Watch("PUT upload", Limits())
    watch.check()  # nothing fired
    watch.fired = "no answer within 60 s"
    with pytest.raises(DeadlineError, match="^PUT upload: no answer within 60 s$"):
        watch.check()
    watch.fired = deadline.INTERRUPTED
    with pytest.raises(CancelledError, match="interrupted"):
        watch.check()


def test_knobs_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_REQUEST_DEADLINE", "2.5")
    monkeypatch.setenv("SYNCER_RATE_WINDOW", "4")
    monkeypatch.delenv("SYNCER_MIN_RATE", raising=False)
    assert Limits.from_env() == Limits(2.5, defaults.MIN_RATE, 4.0)


# -- real sockets --------------------------------------------------------------


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileRegistry]:
    monkeypatch.setattr(deadline._DOG, "_limits", Limits(answer=0.5, min_rate=4096, window=0.5))
    monkeypatch.setattr(deadline, "_STOP", threading.Event())  # interrupts stay in this test
    with HostileRegistry(lifetime=20) as srv:
        yield srv


def test_a_server_that_never_answers_is_cut_off_at_the_deadline(
    server: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    begun: list[Watch] = []
    begin = deadline._DOG.begin

    def recorded(*args: Any, **kwargs: Any) -> Watch:
        begun.append(begin(*args, **kwargs))
        return begun[-1]

    monkeypatch.setattr(deadline._DOG, "begin", recorded)
    server.route("GET", r"^/v2/silent$", lambda r: r.hang())
    started = time.monotonic()
    with pytest.raises(DeadlineError, match=r"GET http://\S+/v2/silent: no answer within 0.5 s"):
        transport.send(transport.new_session(), "GET", f"{server.url}/v2/silent")
    assert time.monotonic() - started < 10, "cut off, not left to the 120 s read timeout"
    assert begun and all(w.ended for w in begun), "the watch was forgotten"


def test_an_upload_waiting_on_a_slow_source_is_not_blamed_for_it(
    server: HostileRegistry,
) -> None:
    def put(r: Reply) -> None:
        r.send(201, headers={"Got": str(len(r.read_body()))})

    server.route("PUT", r"^/v2/upload$", put)

    def slow_source() -> Iterator[bytes]:
        for _ in range(4):
            time.sleep(0.4)  # the source's time, well over a window in all
            yield b"x" * 8192

    body = SizedBody(slow_source(), 4 * 8192)
    resp = transport.send(transport.new_session(), "PUT", f"{server.url}/v2/upload", data=body)
    assert resp.status_code == 201 and resp.headers["Got"] == str(4 * 8192)


def test_interrupt_aborts_what_is_in_flight_and_refuses_new_requests(
    server: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deadline._DOG, "_limits", Limits(answer=60))
    server.route("GET", r"^/v2/silent$", lambda r: r.hang())
    errors: list[BaseException] = []

    def call() -> None:
        try:
            transport.send(transport.new_session(), "GET", f"{server.url}/v2/silent")
        except BaseException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not server.requests("GET", "/v2/silent"):
        time.sleep(0.01)
    deadline.interrupt()
    caller.join(10)
    assert not caller.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], CancelledError), errors
    with pytest.raises(CancelledError):
        transport.send(transport.new_session(), "GET", f"{server.url}/v2/")
    with pytest.raises(CancelledError):
        deadline.sleep(30)


def test_a_streamed_body_read_without_iter_body_keeps_the_answer_deadline(
    server: HostileRegistry,
) -> None:
    server.route("GET", r"^/v2/drip$", lambda r: r.drip(b"x", 0.1, {"Content-Length": "999"}))
    resp = transport.send(transport.new_session(), "GET", f"{server.url}/v2/drip", stream=True)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.RequestException):
        resp.content  # noqa: B018  # read as a capped read of a small body would
    assert time.monotonic() - started < 10, "the drip was cut off"


def test_a_fast_body_is_read_in_steps_growing_to_the_chunk_size() -> None:
    sizes: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            sizes.append(size or -1)
            return super().read(size)

    resp = requests.Response()
    data = bytes(range(256)) * (1 << 14)  # 4 MiB
    resp.raw = Recording(data)
    pieces = list(transport.iter_body(resp, 1 << 20))
    assert b"".join(pieces) == data and max(len(p) for p in pieces) < 2 << 20
    assert sizes[0] == defaults.STREAM_STEP and set(sizes[1:]) == {1 << 20}


def test_a_request_ending_while_the_watchdog_holds_its_lock_does_not_deadlock() -> None:
    # What a weakref finalizer does when the collector runs it inside the
    # watchdog's own locked section: end a watch from a thread holding the lock.
    dog = deadline._Watchdog()
    watch = deadline.Watch("GET x", Limits(answer=0))  # overdue: a sweep would fire it
    dog._watches.add(watch)
    ended = threading.Event()

    def end_under_the_lock() -> None:
        with dog._lock:
            dog.forget(watch)
        ended.set()

    worker = threading.Thread(target=end_under_the_lock, daemon=True)
    worker.start()
    assert ended.wait(5), "forget() blocked on the lock its own thread holds"
    # Forgotten all the same: the watchdog's sweeps fire an overdue watch begun since, not it.
    late = dog.begin("GET late", answer=0)
    try:
        wait_for("the watchdog to fire the overdue watch", lambda: bool(late.fired), 5, 0.02)
    finally:
        dog.forget(late)
    assert watch.fired == ""
