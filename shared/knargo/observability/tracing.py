"""OpenTelemetry spans when an exporter is configured; nothing at all when not.

The W3C trace context of a push travels with it (the `traceparent` of the delivery, the
CloudEvents `traceparent` extension, the Workflow's `knargo.dev/traceparent` annotation), so
each function's span joins the same trace. Spans are exported only when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set and the `tracing` extra is
installed; otherwise `span` is a no-op that imports nothing.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["configure", "span"]

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_state: dict[str, Any] = {}


def configure(environ: Mapping[str, str], provider: Any = None) -> bool:
    """Set up tracing once at start-up; returns whether spans will be recorded.

    `provider` (an SDK TracerProvider) is for tests; in production the OTLP exporter reads
    its endpoint and headers from the standard OTEL_* variables.
    """
    _state.clear()
    if provider is None and not any(environ.get(name) for name in _ENDPOINTS):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        print(
            "knargo: OTEL_EXPORTER_OTLP_ENDPOINT is set but the tracing extra is not "
            "installed; no spans are exported",
            file=sys.stderr,
        )
        return False
    if provider is None:
        provider = _otlp_provider(environ)
        if provider is None:
            return False
    _state.update(
        tracer=provider.get_tracer("knargo"),
        propagator=TraceContextTextMapPropagator(),
        trace=trace,
    )
    return True


def _otlp_provider(environ: Mapping[str, str]) -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        print(
            "knargo: the OTLP exporter is not installed (pip install knargo[tracing])",
            file=sys.stderr,
        )
        return None
    name = environ.get("OTEL_SERVICE_NAME") or environ.get("K_SERVICE") or "knargo"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


@contextlib.contextmanager
def span(name: str, traceparent: str | None, **attributes: str | int | None) -> Iterator[None]:
    """A span named `name`, child of `traceparent` when given; a no-op without tracing."""
    tracer = _state.get("tracer")
    if tracer is None:
        yield
        return
    parent = _state["propagator"].extract({"traceparent": traceparent}) if traceparent else None
    values = {k: v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(name, context=parent, attributes=values):
        yield
