"""The one module that sends HTTP requests (httpx), with short timeouts and bounded retries.

`Publisher` hands CloudEvents to the broker (`K_SINK`): connection errors, timeouts, 5xx and
429 are retried with exponential backoff within a fixed budget, because forges give up on a
delivery after 5-10 s; then it raises `BrokerUnavailable`, which the webhook answers with 503
so the forge shows a failed delivery that can be redelivered. One client is reused for every
request of a process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from knargo.errors import BrokerUnavailable, PermanentError

__all__ = ["Publisher", "RetryPolicy"]

_RETRIED = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Waits between attempts, in seconds: len(delays) + 1 attempts in all."""

    delays: Sequence[float] = (0.1, 0.3, 0.9)
    timeout: float = 1.0


class Publisher:
    """Sends CloudEvent messages to one sink."""

    def __init__(
        self,
        sink: str,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sink = sink
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        timeout = httpx.Timeout(self.policy.timeout, connect=self.policy.timeout)
        self._client = httpx.Client(
            timeout=timeout, transport=transport, headers={"user-agent": "knargo"}
        )

    def publish(self, headers: dict[str, str], body: bytes) -> int:
        """Send one event; returns the number of attempts it took."""
        problem = ""
        for attempt, delay in enumerate([*self.policy.delays, None], start=1):
            try:
                response = self._client.post(self.sink, headers=headers, content=body)
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            else:
                if response.is_success:
                    return attempt
                if response.status_code not in _RETRIED:
                    raise PermanentError(f"the broker refused the event: {response.status_code}")
                problem = f"HTTP {response.status_code}"
            if delay is not None:
                self._sleep(delay)
        raise BrokerUnavailable(f"the broker did not take the event: {problem}")

    def close(self) -> None:
        self._client.close()
