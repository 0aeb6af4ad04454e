"""The dashboard and the alert rules query only metrics the functions expose."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from knargo.observability.metrics import Counter, Metrics

MONITORING = Path(__file__).resolve().parent.parent / "knative" / "monitoring"
METRIC = re.compile(r"\b(knargo_[a-z_]+)\b")


def exposed() -> set[str]:
    names: set[str] = set()
    for metric in Metrics().all():
        if isinstance(metric, Counter):
            names.add(metric.name)
        else:
            names |= {f"{metric.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
    return names


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    assert dashboard["title"] == "knargo" and dashboard["panels"]
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def rule_exprs() -> list[str]:
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    return [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]


def test_every_queried_metric_exists() -> None:
    queried = {m for expr in dashboard_exprs() + rule_exprs() for m in METRIC.findall(expr)}
    assert queried and queried <= exposed(), queried - exposed()


def test_the_alerts_the_operators_need() -> None:
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    names = {rule["alert"] for group in rules["spec"]["groups"] for rule in group["rules"]}
    assert names == {
        "KnargoDeadLetters",
        "KnargoSignatureFailures",
        "KnargoStatusPostFailures",
        "KnargoRejectedPipelines",
        "KnargoWebhookSlow",
    }


def test_the_kustomization_names_existing_files() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    files = kustomization["resources"] + [
        f.split("=", 1)[1] for g in kustomization["configMapGenerator"] for f in g["files"]
    ]
    assert all((MONITORING / name).is_file() for name in files)
    monitor = yaml.safe_load((MONITORING / "podmonitor.yaml").read_text())
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    assert endpoint["relabelings"][0]["replacement"] == "$1:9464"
