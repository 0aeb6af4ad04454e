"""Prometheus metrics of the functions, without a client library.

Counters and histograms with labels, kept in memory and written in the Prometheus text format
(version 0.0.4). prometheus_client would cost each function about 50 ms of start-up (they
scale to zero); what knargo needs is this page. Tests read the output with
prometheus_client's own parser.

The metrics are served on their own port (`KNARGO_METRICS_PORT`, default 9464; Knative's
queue-proxy uses 9090 and 9091 in the same pod), not on the function's: Knative routes only
the container port to the (public) webhook URL, so the metrics stay reachable for a scraper
inside the cluster and never from outside.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from knargo.contract.errors import StartupError

__all__ = ["Counter", "Histogram", "Metrics", "serve", "serve_in_workers"]

LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLO = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(str(labels[n]) for n in self.labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(str(labels[n]) for n in self.labels), 0.0)

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield f"{self.name}{_labels(self.labels, key)} {_number(value)}"


class Histogram:
    def __init__(
        self, name: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY
    ) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(str(labels[n]) for n in self.labels)
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            counts[index] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        return sum(self._counts.get(tuple(str(labels[n]) for n in self.labels), []))

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        with self._lock:
            items = sorted((k, list(v), self._sums[k]) for k, v in self._counts.items())
        for key, counts, total in items:
            running = 0
            for bound, count in zip([*self.buckets, math.inf], counts, strict=True):
                running += count
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.labels, key, le)} {running}"
            yield f"{self.name}_count{_labels(self.labels, key)} {running}"
            yield f"{self.name}_sum{_labels(self.labels, key)} {_number(total)}"


class Metrics:
    """Every metric any function records; each function fills in its own."""

    def __init__(self) -> None:
        self.deliveries = Counter(
            "knargo_webhook_deliveries_total",
            "Deliveries received, by forge, event and outcome.",
            ("forge", "event", "outcome"),
        )
        self.signature_failures = Counter(
            "knargo_webhook_signature_failures_total",
            "Deliveries refused for a bad signature or token.",
            ("forge",),
        )
        self.published = Counter(
            "knargo_webhook_events_published_total", "Events published to the broker.", ("type",)
        )
        self.publish_retries = Counter(
            "knargo_webhook_publish_retries_total", "Extra attempts needed to publish an event."
        )
        self.pipelines = Counter(
            "knargo_generate_pipelines_total",
            "Events handled by generate, by outcome (submitted, duplicate, "
            "rejected, skipped, failed).",
            ("outcome",),
        )
        self.forge_calls = Counter(
            "knargo_forge_api_calls_total",
            "Forge API requests, by forge, operation and status.",
            ("forge", "operation", "status"),
        )
        self.forge_latency = Histogram(
            "knargo_forge_api_duration_seconds",
            "Forge API request duration.",
            ("forge", "operation"),
        )
        self.kube_calls = Counter(
            "knargo_kubernetes_api_calls_total",
            "Kubernetes API requests, by verb, resource and outcome.",
            ("verb", "resource", "outcome"),
        )
        self.status_posts = Counter(
            "knargo_report_status_posts_total",
            "Commit statuses posted, by forge and state.",
            ("forge", "state"),
        )
        self.dead_letters = Counter(
            "knargo_report_dead_letters_total", "Events the broker gave up on, by type.", ("type",)
        )
        self.first_status = Histogram(
            "knargo_time_to_first_status_seconds",
            "From the webhook receiving a delivery to report posting its first pending status.",
            buckets=SLO,
        )
        self.final_status = Histogram(
            "knargo_time_to_final_status_seconds",
            "From a Workflow finishing to report posting the pipeline's final status.",
            buckets=SLO,
        )
        self.config_refused = Counter(
            "knargo_config_reloads_refused_total",
            "Changed configuration, credentials or catalog files refused as invalid (the "
            "function keeps the last valid version), by the file that changed.",
            ("function", "file"),
        )
        self.health: dict[str, Callable[[], str | None]] = {}
        """Checks for `/healthz`: name -> the problem, or None when all is well."""
        self.handled = Histogram(
            "knargo_handler_duration_seconds",
            "Time to handle one request, by function and status.",
            ("function", "status"),
        )

    def all(self) -> list[Counter | Histogram]:
        return [m for m in vars(self).values() if isinstance(m, Counter | Histogram)]

    def expose(self) -> str:
        return "".join(line + "\n" for metric in self.all() for line in metric.lines())

    def healthz(self) -> dict[str, object]:
        """`{"status": "ok"}`, or `"degraded"` with each check's problem."""
        problems = {name: p for name, check in self.health.items() if (p := check()) is not None}
        return {"status": "degraded", "problems": problems} if problems else {"status": "ok"}


def serve(metrics: Metrics, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve `/metrics` and `/healthz` on a daemon thread; returns the server (to stop it
    in tests)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, kind = metrics.expose().encode(), "text/plain; version=0.0.4; charset=utf-8"
            elif path == "/healthz":
                body, kind = json.dumps(metrics.healthz()).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, args=(0.5,), daemon=True, name="knargo-metrics"
    ).start()
    return server


def serve_in_workers(metrics: Metrics, environ: Mapping[str, str]) -> None:
    """Serve the metrics from each worker process functions-framework's gunicorn forks.

    The function module is imported in gunicorn's master, which then forks the worker that
    handles requests, so the server is started after each fork, in the child.
    `KNARGO_METRICS_PORT=0` turns it off.
    """
    text = environ.get("KNARGO_METRICS_PORT", "9464")
    if not text.isdigit():
        raise StartupError(f"KNARGO_METRICS_PORT: {text!r} is not a port number")
    port = int(text)
    if port:
        os.register_at_fork(after_in_child=lambda: _serve_quietly(metrics, port))


def _serve_quietly(metrics: Metrics, port: int) -> None:
    with contextlib.suppress(OSError):  # a second worker on the same port: one serves
        serve(metrics, port)
