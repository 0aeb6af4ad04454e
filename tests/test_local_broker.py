"""The in-process broker: routing by the Triggers' table, replies, retries, dead letters."""

from __future__ import annotations

import threading

import pytest

from knargo.contract import events
from knargo.contract.errors import (
    ForgeUnavailable,
    PermanentError,
    RateLimited,
    TemporaryError,
)
from knargo.contract.events import Envelope
from knargo.contract.routes import ROUTES
from knargo.local.broker import Broker, Delivery


def envelope(type_: str, id_: str = "e-1", data: object = None) -> Envelope:
    return Envelope(type=type_, source="test", id=id_, data=data or {"n": 1})


class Recorder:
    """Functions that record what they receive and answer from a script."""

    def __init__(self, answers: dict[str, list[object]] | None = None) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.answers = answers or {}

    def function(self, name: str):  # type: ignore[no-untyped-def]
        def call(received: Envelope) -> Envelope | None:
            self.calls.append((name, received.type, received.id))
            script = self.answers.get(name) or [None]
            answer = script.pop(0) if len(script) > 1 else script[0]
            if isinstance(answer, Exception):
                raise answer
            return answer  # type: ignore[return-value]

        return call


def broker_with(recorder: Recorder, **options: object) -> tuple[Broker, list[float]]:
    sleeps: list[float] = []
    broker = Broker(
        {"generate": recorder.function("generate"), "report": recorder.function("report")},
        sleep=sleeps.append,
        **options,  # type: ignore[arg-type]
    )
    return broker, sleeps


@pytest.mark.parametrize(("event_type", "function"), ROUTES)
def test_each_event_type_goes_where_the_triggers_send_it(event_type: str, function: str) -> None:
    recorder = Recorder()
    broker, _ = broker_with(recorder)
    broker.publish(envelope(event_type))
    broker.drain()
    assert recorder.calls == [(function, event_type, "e-1")]


def test_an_event_no_trigger_matches_is_dropped() -> None:
    recorder = Recorder()
    broker, _ = broker_with(recorder)
    broker.publish(envelope("dev.other.thing"))
    broker.drain()
    assert recorder.calls == []
    assert broker.dead_letters == []
    assert broker.idle()


def test_a_reply_goes_back_into_the_broker() -> None:
    reply = envelope(events.PIPELINE_SUBMITTED, "r-1")
    recorder = Recorder({"generate": [reply]})
    broker, _ = broker_with(recorder)
    broker.publish(envelope(events.GIT_PUSH))
    broker.drain()
    assert recorder.calls == [
        ("generate", events.GIT_PUSH, "e-1"),
        ("report", events.PIPELINE_SUBMITTED, "r-1"),
    ]


def test_data_is_copied_as_on_the_wire() -> None:
    data = {"nested": {"n": 1}}
    seen: list[Envelope] = []
    broker = Broker({"report": lambda e: seen.append(e)})
    broker.publish(envelope(events.WORKFLOW_UPDATED, data=data))
    data["nested"]["n"] = 2
    broker.drain()
    assert seen[0].data == {"nested": {"n": 1}}


@pytest.mark.parametrize(
    "failure",
    [TemporaryError("cluster busy"), ForgeUnavailable("503"), ValueError("a bug")],
    ids=["temporary", "forge-unavailable", "internal"],
)
def test_redelivered_with_exponential_backoff(failure: Exception) -> None:
    recorder = Recorder({"report": [failure, failure, None]})
    broker, sleeps = broker_with(recorder, delivery=Delivery(retry=5, backoff=0.05, cap=1.0))
    broker.publish(envelope(events.WORKFLOW_UPDATED))
    broker.drain()
    assert len(recorder.calls) == 3
    assert sleeps == [0.05, 0.1]
    assert broker.dead_letters == []


def test_rate_limits_wait_for_retry_after_up_to_the_cap() -> None:
    recorder = Recorder({"report": [RateLimited("slow down", retry_after=0.5), None]})
    broker, sleeps = broker_with(recorder, delivery=Delivery(backoff=0.05, cap=1.0))
    broker.publish(envelope(events.WORKFLOW_UPDATED))
    broker.drain()
    assert sleeps == [1.0]  # Retry-After is whole seconds (1), the cap is 1 s
    recorder = Recorder({"report": [RateLimited("slow down", retry_after=3600), None]})
    broker, sleeps = broker_with(recorder, delivery=Delivery(backoff=0.05, cap=0.5))
    broker.publish(envelope(events.WORKFLOW_UPDATED))
    broker.drain()
    assert sleeps == [0.5]


def test_exhausted_deliveries_become_dead_letters_and_reach_the_sink() -> None:
    recorder = Recorder({"report": [ForgeUnavailable("down")]})
    sunk: list[Envelope] = []
    broker, sleeps = broker_with(
        recorder, delivery=Delivery(retry=3, backoff=0.01, cap=1.0), dead_letter_sink=sunk.append
    )
    broker.publish(envelope(events.WORKFLOW_UPDATED, "u-1"))
    broker.drain()
    assert len(recorder.calls) == 4
    assert sleeps == [0.01, 0.02, 0.04]
    (letter,) = broker.dead_letters
    assert (letter.function, letter.status, letter.attempts) == ("report", 503, 4)
    assert letter.reason == "ForgeUnavailable: down"
    assert [(e.id, e.extensions["knativeerrorcode"]) for e in sunk] == [("u-1", "503")]


def test_permanent_failures_are_not_retried() -> None:
    recorder = Recorder({"generate": [PermanentError("not a commit here")]})
    broker, sleeps = broker_with(recorder)
    broker.publish(envelope(events.GIT_PUSH))
    broker.drain()
    assert len(recorder.calls) == 1
    assert sleeps == []
    (letter,) = broker.dead_letters
    assert (letter.status, letter.attempts, letter.reason) == (
        400,
        1,
        "PermanentError: not a commit here",
    )


def test_a_failing_sink_and_observer_are_kept_visible() -> None:
    def sink(_envelope: Envelope) -> None:
        raise RuntimeError("sink down")

    def observer(_envelope: Envelope) -> None:
        raise RuntimeError("view broke")

    recorder = Recorder({"report": [PermanentError("bad")]})
    broker, _ = broker_with(recorder, dead_letter_sink=sink)
    broker.taps.append(observer)
    broker.publish(envelope(events.WORKFLOW_UPDATED))
    broker.drain()
    assert [(d.function, d.status) for d in broker.dead_letters] == [
        ("(observer)", 500),
        ("report", 400),
        ("dead-letter", 500),
    ]


def test_the_dispatcher_thread_delivers_what_any_thread_publishes() -> None:
    seen: list[str] = []
    broker = Broker({"report": lambda e: seen.append(e.id)})
    broker.start()
    try:
        threads = [
            threading.Thread(
                target=lambda i=i: broker.publish(envelope(events.WORKFLOW_UPDATED, f"e-{i}"))
            )
            for i in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert broker.wait(timeout=10)
    finally:
        broker.stop()
    assert sorted(seen) == sorted(f"e-{i}" for i in range(20))
    assert broker.idle()
