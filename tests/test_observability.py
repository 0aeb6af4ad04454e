"""Logs, metrics and the trace: one schema, counted paths, one trace id from push to status."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app
from prometheus_client.parser import text_string_to_metric_families

from argo_sim import run
from deliveries import signed, webhook_client
from forgefake import running_forges
from knargo.contract import cloudevent, events
from knargo.contract.errors import StartupError
from knargo.contract.events import Envelope
from knargo.observability.logs import FIELDS, EventLog
from knargo.observability.metrics import Counter, Histogram, Metrics, serve, serve_in_workers
from kubefake import running_kube
from reference import reference_path
from sink import Sink

ROOT = Path(__file__).resolve().parent.parent
TOKENS = {"github": "ghp-recognisable-token-42", "gitlab": "gl", "gitea": "gt"}
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_metrics_expose_the_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.deliveries.inc(forge="github", event="push", outcome="published")
    metrics.deliveries.inc(forge='we"ird\\', event="push", outcome="published")
    metrics.forge_latency.observe(0.03, forge="github", operation="file")
    metrics.forge_latency.observe(7.0, forge="github", operation="file")
    families = {f.name: f for f in text_string_to_metric_families(metrics.expose())}
    assert set(families) >= {
        "knargo_webhook_deliveries",
        "knargo_forge_api_duration_seconds",
        "knargo_time_to_first_status_seconds",
    }
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert (
        samples[
            (
                "knargo_webhook_deliveries_total",
                (("event", "push"), ("forge", 'we"ird\\'), ("outcome", "published")),
            )
        ]
        == 1
    )
    histogram = {
        s.labels.get("le"): s.value
        for s in families["knargo_forge_api_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert histogram["0.025"] == 0 and histogram["0.05"] == 1 and histogram["+Inf"] == 2


def test_counters_and_histograms_count() -> None:
    counter = Counter("c_total", "help", ("a",))
    counter.inc(a="x")
    counter.inc(2, a="x")
    assert counter.value(a="x") == 3
    histogram = Histogram("h", "help", buckets=(1.0,))
    histogram.observe(0.5)
    histogram.observe(5.0)
    assert histogram.count() == 2


def test_the_metrics_server_serves_only_metrics() -> None:
    metrics = Metrics()
    metrics.published.inc(type=events.GIT_PUSH)
    server = serve(metrics, 0, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            body = response.read().decode()
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'knargo_webhook_events_published_total{type="dev.knargo.git.push"} 1' in body
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{url}/", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_port_must_be_a_number() -> None:
    with pytest.raises(StartupError, match="KNARGO_METRICS_PORT"):
        serve_in_workers(Metrics(), {"KNARGO_METRICS_PORT": "metrics"})
    serve_in_workers(Metrics(), {"KNARGO_METRICS_PORT": "0"})  # off: nothing registered


def test_text_log_format(capsys: pytest.CaptureFixture[str]) -> None:
    EventLog("cli", text=True).handled(
        "published", status=202, started=time.monotonic(), repository="acme/api"
    )
    line = capsys.readouterr().err.strip()
    assert " info    cli: published " in line and "repository=acme/api" in line
    assert "status=202" in line and "{" not in line


def test_webhook_counts_its_paths(
    tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = webhook_client(tmp_path, sink, monkeypatch)
    body = reference_path(
        "fixtures", "github", "payloads", "drone-go-scm", "push.json"
    ).read_bytes()
    client.post("/", data=body, headers=signed("github", "github", "push", body))
    client.post(
        "/",
        data=body,
        headers=signed("github", "github", "push", body) | {"X-Hub-Signature-256": "sha256=00"},
    )
    main = sys.modules["main"]
    assert main.METRICS.deliveries.value(forge="github", event="push", outcome="published") == 1
    assert main.METRICS.signature_failures.value(forge="github") == 1
    assert main.METRICS.published.value(type=events.GIT_PUSH) == 1
    assert sink.events[0].data["received_at"].endswith("+00:00")


@pytest.fixture
def chain(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The three functions' environments: one push goes through all of them."""
    with running_kube() as kube, running_forges(TOKENS) as forge:
        config = {
            "namespace": "ci",
            "argo_ui_url": "https://argo.example.com",
            "forges": [
                {
                    "name": "github",
                    "kind": "github",
                    "api_url": forge.api_url("github"),
                    "web_url": "https://github.com",
                }
            ],
        }
        (tmp_path / "config.yaml").write_text(json.dumps(config))
        credentials = tmp_path / "credentials"
        credentials.mkdir(exist_ok=True)
        (credentials / "github.token").write_text(TOKENS["github"] + "\n")
        (credentials / "github.webhook-secret").write_text("s3cret-github\n")
        (tmp_path / "catalog.yaml").write_text("scopes: {}\n")
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        for key, value in {
            "KUBECONFIG": str(kube.kubeconfig(tmp_path)),
            "KNARGO_CONFIG": str(tmp_path / "config.yaml"),
            "KNARGO_CREDENTIALS_DIR": str(credentials),
            "KNARGO_SECRET_CATALOG": str(tmp_path / "catalog.yaml"),
            "K_SINK": sink.url,
            "KNARGO_METRICS_PORT": "0",
        }.items():
            monkeypatch.setenv(key, value)
        yield {"kube": kube, "forge": forge, "sink": sink}
        _close()


def _close() -> None:
    main = sys.modules.get("main")
    for name in ("FORGES", "CLUSTER", "PUBLISHER"):
        client = getattr(main, name, None)
        if client is not None:
            client.close()


def _app(function: str) -> Any:
    _close()
    return create_app("handle", str(ROOT / "functions" / function / "main.py")).test_client()


def _post(client: Any, envelope: Envelope) -> Any:
    message = cloudevent.encode(envelope)
    return client.post("/", data=message.body, headers=message.headers)


def test_one_trace_id_from_the_push_to_the_last_status(
    chain: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    payload = json.loads(
        reference_path("fixtures", "github", "payloads", "drone-go-scm", "push.json").read_bytes()
    )
    sha = payload["head_commit"]["id"]
    repository = payload["repository"]["full_name"]
    chain["forge"].add_file(
        "github", repository, sha, "ci.yaml", b"jobs:\n  build: {image: alpine, run: make}\n"
    )
    chain["forge"].add_commit("github", repository, sha)
    body = json.dumps(payload).encode()
    headers = signed("github", "github", "push", body) | {"traceparent": PARENT}
    assert _app("webhook").post("/", data=body, headers=headers).status_code == 202
    [published] = chain["sink"].events
    reply = _post(_app("generate"), published)
    assert reply.status_code == 200
    submitted = cloudevent.decode(dict(reply.headers), reply.get_data())
    report = _app("report")
    assert _post(report, submitted).status_code == 202
    [stored] = chain["kube"].objects("workflows", "ci")
    assert stored["metadata"]["annotations"]["knargo.dev/traceparent"] == PARENT
    for snapshot in run(stored, {}):
        chain["kube"].put_object(snapshot, "workflows")
        update = Envelope(
            type=events.WORKFLOW_UPDATED,
            source="argo-events/x",
            id=snapshot["metadata"]["resourceVersion"],
            data=snapshot,
        )
        assert _post(report, update).status_code == 202
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert {line["function"] for line in lines} == {"webhook", "generate", "report"}
    assert {line["trace_id"] for line in lines} == {PARENT.split("-")[1]}
    assert all(field in line for line in lines for field in FIELDS)
    assert TOKENS["github"] not in json.dumps(lines)
    assert "s3cret-github" not in json.dumps(lines)
    main = sys.modules["main"]
    assert main.METRICS.first_status.count() == 1
    assert main.METRICS.final_status.count() == 1
    assert main.METRICS.status_posts.value(forge="github", state="success") == 2
    assert main.METRICS.kube_calls.value(verb="get", resource="workflows", outcome="ok") >= 1
    assert (
        main.METRICS.forge_calls.value(forge="github", operation="create_status", status="201") >= 4
    )


def test_no_tracing_imports_nothing() -> None:
    import subprocess

    code = (
        "import sys; from knargo.observability import tracing; "
        "print(tracing.configure({}), any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines()[0] == "False False"


def test_spans_join_the_push_trace() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from knargo.observability import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        assert tracing.configure({}, provider=provider)
        with tracing.span("generate", PARENT, repository="acme/api", sha=None):
            pass
        [span] = exporter.get_finished_spans()
        assert span.name == "generate"
        assert f"{span.context.trace_id:032x}" == PARENT.split("-")[1]
        assert f"{span.parent.span_id:016x}" == PARENT.split("-")[2]
        assert dict(span.attributes) == {"repository": "acme/api"}
    finally:
        tracing.configure({})
