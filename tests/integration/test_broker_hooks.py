"""KilnRedisBroker (actors/broker.py): middleware hooks called only where a middleware
implements them, in Dramatiq's order and with Dramatiq's error handling; and `delivery`, the
Redis layout a stage's hand-off writes the next message and the acknowledgement into."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.broker import MessageProxy
from dramatiq.message import Message
from dramatiq.middleware import Middleware, MiddlewareError

from actors.broker import KilnRedisBroker
from domain.messages import QUEUE, STAGE_ACTOR, stage_message
from domain.status import Status
from tests.support.direct import forget_direct_connection

NS = "kiln-test-hooks"


class Recording(Middleware):
    def __init__(self, name: str, calls: list[tuple[str, str]]) -> None:
        self.name, self.calls = name, calls

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Both(Recording):
    def before_enqueue(self, broker, message, delay):
        assert isinstance(broker, KilnRedisBroker) and delay is None
        assert message.options["redis_message_id"]  # the copy enqueue writes
        self.calls.append((self.name, "before_enqueue"))

    def after_enqueue(self, broker, message, delay):
        self.calls.append((self.name, "after_enqueue"))


class AlsoBoth(Both):  # inherits its hooks: still an implementation
    pass


class AfterOnly(Recording):
    def after_enqueue(self, broker, message, delay):
        self.calls.append((self.name, "after_enqueue"))


class Neither(Recording):
    pass


class Refuses(Recording):
    def before_enqueue(self, broker, message, delay):
        self.calls.append((self.name, "before_enqueue"))
        raise MiddlewareError("refused")

    def after_enqueue(self, broker, message, delay):
        self.calls.append((self.name, "after_enqueue"))
        raise MiddlewareError("too late to refuse")


class Crashes(Recording):
    def before_enqueue(self, broker, message, delay):
        self.calls.append((self.name, "before_enqueue"))
        raise RuntimeError("before")

    def after_enqueue(self, broker, message, delay):
        self.calls.append((self.name, "after_enqueue"))
        raise RuntimeError("after")


@pytest.fixture
def make_broker(redis_url, r) -> Iterator:
    made: list[KilnRedisBroker] = []

    def make(middleware: list[Middleware]) -> KilnRedisBroker:
        broker = KilnRedisBroker(url=redis_url, middleware=middleware, namespace=NS)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        forget_direct_connection(broker.client)
        broker.client.close()


def _queued(r) -> int:
    return r.llen(f"{NS}:{QUEUE}")


def test_only_implemented_hooks_run_in_dramatiqs_order(make_broker, r, monkeypatch):
    # Middleware's own no-op hooks, made visible: the broker must never call them.
    base_calls: list[tuple[str, str]] = []
    for hook in ("before_enqueue", "after_enqueue"):
        monkeypatch.setattr(Middleware, hook, lambda self, *a, _h=hook: base_calls.append(
            (self.name, _h)))
    calls: list[tuple[str, str]] = []
    middleware = [Both("a", calls), Neither("n", calls), AfterOnly("b", calls),
                  AlsoBoth("c", calls)]
    broker = make_broker(middleware)
    broker.enqueue(stage_message(Status.CODE, "job-1"))
    assert calls == [("a", "before_enqueue"), ("c", "before_enqueue"),
                     ("c", "after_enqueue"), ("b", "after_enqueue"), ("a", "after_enqueue")]
    assert base_calls == []
    assert _queued(r) == 1

    # Dramatiq's own dispatch calls every middleware, no-ops included, in the same order.
    calls.clear()
    message = stage_message(Status.CODE, "job-2").copy(options={"redis_message_id": "x"})
    dramatiq.Broker.emit_before(broker, "enqueue", message, None)
    dramatiq.Broker.emit_after(broker, "enqueue", message, None)
    assert base_calls == [("n", "before_enqueue"), ("b", "before_enqueue"),
                          ("n", "after_enqueue")]
    kiln_order = calls.copy()
    calls.clear()
    broker.emit_before("enqueue", message, None)
    broker.emit_after("enqueue", message, None)
    assert calls == kiln_order


def test_a_middleware_error_in_a_before_hook_stops_the_enqueue(make_broker, r):
    calls: list[tuple[str, str]] = []
    broker = make_broker([Both("a", calls), Refuses("x", calls), AlsoBoth("c", calls)])
    with pytest.raises(MiddlewareError, match="refused"):
        broker.enqueue(stage_message(Status.CODE, "job-1"))
    assert calls == [("a", "before_enqueue"), ("x", "before_enqueue")]
    assert _queued(r) == 0


def test_a_middleware_error_in_an_after_hook_is_only_logged(make_broker, caplog):
    calls: list[tuple[str, str]] = []
    broker = make_broker([Both("a", calls), Refuses("x", calls)])
    message = stage_message(Status.CODE, "job-1")
    with caplog.at_level(logging.CRITICAL):
        broker.emit_after("enqueue", message, None)
    assert calls == [("x", "after_enqueue"), ("a", "after_enqueue")]
    assert [rec.getMessage() for rec in caplog.records] == [
        "Unexpected failure in after_enqueue of <x>."]


def test_any_other_hook_failure_is_logged_and_the_rest_still_run(make_broker, r, caplog):
    calls: list[tuple[str, str]] = []
    broker = make_broker([Crashes("x", calls), Both("a", calls)])
    with caplog.at_level(logging.CRITICAL):
        broker.enqueue(stage_message(Status.CODE, "job-1"))
    assert calls == [("x", "before_enqueue"), ("a", "before_enqueue"),
                     ("a", "after_enqueue"), ("x", "after_enqueue")]
    assert _queued(r) == 1
    failures = [rec for rec in caplog.records if rec.levelno == logging.CRITICAL]
    assert [rec.getMessage() for rec in failures] == [
        "Unexpected failure in before_enqueue of <x>.",
        "Unexpected failure in after_enqueue of <x>."]
    assert all(rec.exc_info and isinstance(rec.exc_info[1], RuntimeError) for rec in failures)


def test_adding_middleware_later_refreshes_the_hooks(make_broker):
    calls: list[tuple[str, str]] = []
    broker = make_broker([Both("a", calls)])
    message = stage_message(Status.CODE, "job-1").copy(options={"redis_message_id": "x"})

    def emit() -> list[tuple[str, str]]:
        calls.clear()
        broker.emit_before("enqueue", message, None)
        broker.emit_after("enqueue", message, None)
        return calls.copy()

    assert emit() == [("a", "before_enqueue"), ("a", "after_enqueue")]  # now cached
    broker.add_middleware(AfterOnly("b", calls))
    assert emit() == [("a", "before_enqueue"), ("b", "after_enqueue"), ("a", "after_enqueue")]
    broker.add_middleware(AlsoBoth("c", calls), before=Both)
    assert emit() == [("c", "before_enqueue"), ("a", "before_enqueue"),
                      ("b", "after_enqueue"), ("a", "after_enqueue"), ("c", "after_enqueue")]


# -- delivery --------------------------------------------------------------------------------

def _current(queue: str = QUEUE, rid: str = "rid-current") -> MessageProxy:
    message = stage_message(Status.CODE, "job-1").copy(queue_name=queue)
    return MessageProxy(message.copy(options={"redis_message_id": rid}))


def test_delivery_encodes_the_next_message_as_enqueue_would(make_broker):
    broker = make_broker([])
    send = stage_message(Status.DEPS, "job-1", attempt=2, iteration=1).copy(
        kwargs={"k": "v"}, options={"max_retries": 3})
    d = broker.delivery(_current(), send)
    assert d.send_id == send.message_id
    decoded = Message.decode(d.send_data.encode())
    assert decoded == send.copy(options={"redis_message_id": send.message_id})
    assert (decoded.actor_name, decoded.args) == ("stage_deps", ("job-1", 2, 1))
    assert decoded.options == {"max_retries": 3, "redis_message_id": send.message_id}
    assert send.options == {"max_retries": 3}  # the caller's message is left alone
    assert (d.queue, d.messages, d.unacked) == (
        f"{NS}:{QUEUE}", f"{NS}:{QUEUE}.msgs", f"{NS}:__acks__.{broker.broker_id}.{QUEUE}")
    assert d.ack_id == "rid-current"


@pytest.mark.parametrize(("current_queue", "send_queue", "queue", "ack_id"), [
    (QUEUE, QUEUE, QUEUE, "rid-current"),
    (QUEUE, "other", "other", ""),  # its own consumer acknowledges it
    (f"{QUEUE}.DQ", QUEUE, QUEUE, ""),
    (None, QUEUE, QUEUE, ""),
    (QUEUE, None, QUEUE, "rid-current"),
    ("other", None, "other", "rid-current"),
    (None, None, QUEUE, ""),
])
def test_delivery_acknowledges_only_a_message_on_the_same_queue(
        make_broker, current_queue, send_queue, queue, ack_id):
    broker = make_broker([])
    current = _current(current_queue) if current_queue else None
    send = stage_message(Status.DEPS, "job-1").copy(queue_name=send_queue) if send_queue else None
    d = broker.delivery(current, send)
    assert d.ack_id == ack_id
    assert (d.queue, d.messages) == (f"{NS}:{queue}", f"{NS}:{queue}.msgs")
    assert d.unacked == f"{NS}:__acks__.{broker.broker_id}.{queue}"
    if send is None:
        assert (d.send_id, d.send_data) == ("", "")


def test_delivery_names_the_keys_a_real_fetch_uses(make_broker, r):
    broker = make_broker([])
    for name in STAGE_ACTOR.values():
        broker.declare_actor(type("A", (), {"actor_name": name, "queue_name": QUEUE})())
    broker.enqueue(stage_message(Status.CODE, "job-1"))
    consumer = broker.consume(QUEUE, prefetch=1, timeout=50)
    try:
        current = next(m for m in consumer if m is not None)
        d = broker.delivery(current, None)
        assert d.ack_id == current.options["redis_message_id"]
        assert r.smembers(d.unacked) == {d.ack_id}
        assert r.hexists(d.messages, d.ack_id)
    finally:
        consumer.close()
