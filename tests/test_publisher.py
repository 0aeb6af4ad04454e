"""The publisher sends each event to the broker through httpx's transport, not its client."""

from __future__ import annotations

import pytest

from knargo.contract.cloudevent import encode
from knargo.contract.events import Envelope
from knargo.io.network import Publisher, RetryPolicy
from sink import running_sink

ENVELOPE = Envelope("dev.knargo.git.push", "https://github.com/o/r", "d-1", {"a": 1}, "refs/x")


def test_events_reach_the_sink_with_their_headers_over_one_connection() -> None:
    message = encode(ENVELOPE)
    with running_sink() as sink:
        publisher = Publisher(sink.url)
        assert [publisher.publish(message.headers, message.body) for _ in range(3)] == [1, 1, 1]
        publisher.close()
    assert sink.events == [ENVELOPE] * 3
    assert sink.headers[0]["user-agent"] == "knargo"
    assert sink.headers[0]["ce-time"] == message.headers["ce-time"]


def test_a_proxy_from_the_environment_is_used_as_httpx_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sink answers any path, so it stands in for a forwarding proxy here."""
    message = encode(ENVELOPE)
    with running_sink() as sink:
        monkeypatch.setenv("HTTP_PROXY", sink.url)
        publisher = Publisher("http://broker.invalid/", RetryPolicy((), timeout=2.0))
        assert publisher.publish(message.headers, message.body) == 1
        publisher.close()
    assert sink.events == [ENVELOPE]


def test_retries_then_gives_up() -> None:
    message = encode(ENVELOPE)
    with running_sink() as sink:
        sink.fail_next += [503, 429]
        publisher = Publisher(sink.url, RetryPolicy((0.0, 0.0), timeout=2.0))
        assert publisher.publish(message.headers, message.body) == 3
        sink.fail_next += [400]
        with pytest.raises(Exception, match="refused the event: 400"):
            publisher.publish(message.headers, message.body)
        publisher.close()
