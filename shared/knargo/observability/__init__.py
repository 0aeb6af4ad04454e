"""How the functions are observed: one log schema, Prometheus metrics, OpenTelemetry spans.

* `logs`: one JSON (or text) line per handled request; `metrics`: counters and histograms
  written in the Prometheus text format without a client library; `tracing`: spans when an
  exporter is configured, nothing imported otherwise.

May import `knargo.contract`.
"""
