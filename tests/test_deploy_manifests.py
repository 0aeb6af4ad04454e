"""knative/: every manifest validates, and the manifests agree with the code and each other.

* Core kinds validate with kubernetes-validate (strict, Kubernetes 1.33); Knative, Argo Events
  and Argo CD objects against the upstream schemas in ../shared/schemas (Argo Events with an
  explicit Draft 7 validator, its CRDs carry no schema).
* The embedded configuration and catalog parse with knargo's own parsers.
* RBAC equals the least-privilege table; Trigger filters equal the event type constants;
  every delivery retries with backoff into report's /dead-letter; the Sensor posts a
  binary-mode `workflow.updated` CloudEvent, and its Lua filter (run with Lua 5.1, as
  Argo Events' gopher-lua) passes phase and node changes only.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

import knargo
from knargo.config.catalog import parse_catalog
from knargo.config.credentials import DEFAULT_DIR
from knargo.config.settings import Settings, parse_settings
from knargo.config.startup import DEFAULT_CATALOG, MOUNTED_CONFIG
from knargo.contract import events
from knargo.translation.plan import MANAGED_BY
from reference import reference_path

ROOT = Path(__file__).resolve().parent.parent
KNATIVE = ROOT / "knative"
KUBERNETES = "1.33.0"
FUNCTIONS = ("webhook", "generate", "report")
Manifest = dict[str, Any]


# --- loading ------------------------------------------------------------------------------


def load(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> Manifest:
    return yaml.safe_load((KNATIVE / "kustomization.yaml").read_text())  # type: ignore[no-any-return]


def resources() -> list[Manifest]:
    """Everything `kubectl apply -k knative/` applies, in order."""
    return [doc for name in kustomization()["resources"] for doc in load(KNATIVE / name)]


def extras() -> list[Manifest]:
    """The manifests beside the kustomization: the Argo CD Application, Argo's ConfigMap."""
    return load(KNATIVE / "argocd" / "application.yaml") + load(
        KNATIVE / "argo-workflows" / "workflow-controller-configmap.yaml"
    )


def find(kind: str, name: str | None = None) -> list[Manifest]:
    return [
        m
        for m in resources()
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]


def one(kind: str, name: str | None = None) -> Manifest:
    (found,) = find(kind, name)
    return found


def ident(manifest: Manifest) -> str:
    meta = manifest["metadata"]
    return f"{manifest['kind']} {meta.get('namespace', '')}/{meta['name']}"


def delivery_patch() -> Manifest:
    return yaml.safe_load((KNATIVE / "patches" / "delivery.yaml").read_text())["spec"]["delivery"]  # type: ignore[no-any-return]


def container(function: str) -> Manifest:
    (only,) = one("Service", function)["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def env(function: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(function)["env"]}


def settings() -> Settings:
    text = one("ConfigMap", "knargo-config")["data"]["config.yaml"]
    parsed, problems = parse_settings(text, "knative/config.yaml")
    assert parsed is not None, "\n".join(map(str, problems))
    return parsed


FUNCTIONS_NS = one("Namespace", "knargo")["metadata"]["name"]
PIPELINE_NS = "ci"


# --- the kustomization --------------------------------------------------------------------


def test_the_kustomization_lists_every_manifest() -> None:
    listed = kustomization()["resources"]
    beside = sorted(p.name for p in KNATIVE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == beside
    assert len(set(listed)) == len(listed)
    names = [ident(m) for m in resources()]
    assert len(set(names)) == len(names), "no object is defined twice"
    for manifest in resources():
        assert manifest["metadata"].get("namespace") or manifest["kind"] == "Namespace", ident(
            manifest
        )
        assert manifest["metadata"]["labels"]["app.kubernetes.io/part-of"] == "knargo"


def test_the_kustomization_overrides_each_image() -> None:
    images = {i["name"]: i for i in kustomization()["images"]}
    for function in FUNCTIONS:
        name, _, tag = container(function)["image"].rpartition(":")
        assert name == f"ghcr.io/example/knargo-{function}"
        assert tag == knargo.__version__ == images[name]["newTag"]
    assert len(images) == len(FUNCTIONS)


def test_kustomize_builds_the_same_objects() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the objects are checked file by file above")
    built = subprocess.run(
        [kubectl, "kustomize", str(KNATIVE)], capture_output=True, text=True, timeout=60
    )
    if built.returncode != 0 and "unknown command" in built.stderr:
        pytest.skip("this kubectl has no kustomize")
    assert built.returncode == 0, built.stderr
    rendered = [d for d in yaml.safe_load_all(built.stdout) if d]
    assert [ident(m) for m in rendered] == [ident(m) for m in resources()]


# --- schemas ------------------------------------------------------------------------------

CRDS = {
    ("serving.knative.dev/v1", "Service"): ("knative", "serving-service.yaml"),
    ("eventing.knative.dev/v1", "Broker"): ("knative", "eventing-broker.yaml"),
    ("eventing.knative.dev/v1", "Trigger"): ("knative", "eventing-trigger.yaml"),
    ("sources.knative.dev/v1", "SinkBinding"): ("knative", "eventing-sinkbindings.yaml"),
    ("argoproj.io/v1alpha1", "Application"): ("argo-cd", "application-crd.yaml"),
}
ARGO_EVENTS = {"EventBus", "EventSource", "Sensor"}
CORE_GROUPS = {"v1", "rbac.authorization.k8s.io/v1"}


@functools.cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    crd = yaml.load(
        reference_path("schemas", *CRDS[(api_version, kind)]).read_text(),
        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
    )
    assert crd["spec"]["names"]["kind"] == kind
    version = api_version.rsplit("/", 1)[-1]
    (found,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(found["schema"]["openAPIV3Schema"])


@functools.cache
def _argo_events_validator(kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads(reference_path("schemas", "argo-events", "schema.json").read_text())
    # The file's $schema URI is one jsonschema does not know: name the draft explicitly.
    wrapper = {
        "$ref": f"#/definitions/io.argoproj.events.v1alpha1.{kind}",
        "definitions": schema["definitions"],
    }
    return jsonschema.Draft7Validator(wrapper)


def schema_problems(manifest: Manifest) -> list[str]:
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    if api_version in CORE_GROUPS:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            return [f"{'/'.join(map(str, error.path))}: {error.message}"]
        return []
    if api_version == "argoproj.io/v1alpha1" and kind in ARGO_EVENTS:
        validator = _argo_events_validator(kind)
    else:
        assert (api_version, kind) in CRDS, f"no schema for {api_version} {kind}"
        validator = _crd_validator(api_version, kind)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in validator.iter_errors(manifest)
    ]


def _all() -> Iterator[Manifest]:
    yield from resources()
    yield from extras()


@pytest.mark.parametrize("manifest", list(_all()), ids=ident)
def test_every_manifest_validates(manifest: Manifest) -> None:
    assert schema_problems(manifest) == []


def test_the_validators_catch_mistakes() -> None:
    """Each kind of validator rejects a broken object (so a pass above means something)."""
    service = json.loads(json.dumps(one("Service", "webhook")))
    service["spec"]["template"]["spec"]["containerConcurrency"] = "eight"
    trigger = json.loads(json.dumps(one("Trigger", "generate-git-push")))
    trigger["spec"]["delivery"]["retry"] = "ten"
    sensor = json.loads(json.dumps(one("Sensor")))
    sensor["spec"]["triggers"][0]["policy"]["status"] = {}
    role = json.loads(json.dumps(one("Role", "knargo-report")))
    role["rules"][0]["verbz"] = ["get"]
    (application,) = load(KNATIVE / "argocd" / "application.yaml")
    application["spec"]["source"] = "knative"
    for broken in (service, trigger, sensor, role, application):
        assert schema_problems(broken), ident(broken)


# --- configuration, catalog, credentials --------------------------------------------------


def test_the_configuration_is_a_valid_knargo_configuration() -> None:
    configured = settings()
    assert configured.namespace == PIPELINE_NS
    assert configured.service_account == "knargo-pipeline"
    one("ServiceAccount", configured.service_account)  # exists
    example, problems = parse_settings((ROOT / "examples" / "config.yaml").read_text(), "example")
    assert example is not None, problems
    assert configured.runners == example.runners, "the example runner aliases"


def test_the_catalog_is_valid_and_empty() -> None:
    config_map = one("ConfigMap", "knargo-secret-catalog")
    assert list(config_map["data"]) == [Path(DEFAULT_CATALOG).name]
    catalog, problems = parse_catalog(config_map["data"]["catalog.yaml"], "catalog.yaml")
    assert catalog is not None, problems
    assert catalog.scopes == {}
    # Created once, then `knargo secrets` owns it: re-applying must be able to leave it out.
    assert config_map["metadata"]["labels"]["knargo.dev/created-once"] == "true"
    assert config_map["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == (
        "Prune=false"
    )
    created_once = [
        m for m in resources() if m["metadata"]["labels"].get("knargo.dev/created-once")
    ]
    assert created_once == [config_map]


def test_the_credentials_template_holds_no_values() -> None:
    secret = one("Secret", "knargo-credentials")
    assert set(secret) == {"apiVersion", "kind", "metadata", "type"}, "no data, no stringData"
    text = (KNATIVE / "credentials.yaml").read_text()
    for key in ("<forge>.webhook-secret", "<forge>.webhook-secret.previous", "<forge>.token"):
        assert key in text, f"{key} is documented"


def _mounts(function: str) -> dict[str, tuple[str, str]]:
    """mountPath -> (kind, name) of what is mounted there."""
    spec = one("Service", function)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    found = {}
    for mount in container(function)["volumeMounts"]:
        assert mount.get("readOnly") is True
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            found[mount["mountPath"]] = ("ConfigMap", volume["configMap"]["name"])
        else:
            found[mount["mountPath"]] = ("Secret", volume["secret"]["secretName"])
    return found


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_gets_its_files_where_knargo_looks(function: str) -> None:
    mounts = _mounts(function)
    expected = {
        str(Path(MOUNTED_CONFIG).parent): ("ConfigMap", "knargo-config"),
        DEFAULT_DIR: ("Secret", "knargo-credentials"),
    }
    if function == "generate":
        expected[str(Path(DEFAULT_CATALOG).parent)] = ("ConfigMap", "knargo-secret-catalog")
    assert mounts == expected
    variables = env(function)
    assert variables["KNARGO_CONFIG"] == MOUNTED_CONFIG
    assert variables["KNARGO_CREDENTIALS_DIR"] == DEFAULT_DIR
    assert variables.get("KNARGO_SECRET_CATALOG") == (
        DEFAULT_CATALOG if function == "generate" else None
    )
    # kubelet never updates a file mounted with subPath: configuration changes need directories
    assert [m for m in container(function)["volumeMounts"] if "subPath" in m] == []
    for kind, name in mounts.values():
        one(kind, name)  # defined in knative/


# --- RBAC ---------------------------------------------------------------------------------

# (namespace, service account) -> {(namespace, apiGroup, resource): verbs}
LEAST_PRIVILEGE: dict[tuple[str, str], dict[tuple[str, str, str], set[str]]] = {
    ("knargo", "knargo-webhook"): {},
    ("knargo", "knargo-generate"): {
        ("ci", "argoproj.io", "workflows"): {"create", "get", "list", "patch"},
        ("ci", "argoproj.io", "cronworkflows"): {
            "create",
            "get",
            "list",
            "patch",
            "update",
            "delete",
        },
    },
    ("knargo", "knargo-report"): {
        ("ci", "argoproj.io", "workflows"): {"get", "list"},
        ("ci", "", "pods/log"): {"get"},  # a failed job's log tail, for its check run
    },
    ("ci", "knargo-pipeline"): {("ci", "argoproj.io", "workflowtaskresults"): {"create", "patch"}},
    ("knargo", "knargo-events"): {("ci", "argoproj.io", "workflows"): {"list", "watch"}},
}


def permissions() -> dict[tuple[str, str], dict[tuple[str, str, str], set[str]]]:
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in find("Role")}
    granted: dict[tuple[str, str], dict[tuple[str, str, str], set[str]]] = {
        (sa["metadata"]["namespace"], sa["metadata"]["name"]): {} for sa in find("ServiceAccount")
    }
    for binding in find("RoleBinding"):
        namespace = binding["metadata"]["namespace"]
        assert binding["roleRef"]["kind"] == "Role"
        role = roles[(namespace, binding["roleRef"]["name"])]
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            rules = granted[(subject["namespace"], subject["name"])]
            for rule in role["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        rules.setdefault((namespace, group, resource), set()).update(rule["verbs"])
    return granted


def test_rbac_is_the_least_privilege_table() -> None:
    assert permissions() == LEAST_PRIVILEGE
    kinds = {m["kind"] for m in resources() + extras()}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, "namespaced permissions only"
    for role in find("Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert "secrets" not in rule["resources"], "nobody reads Secrets"


def test_each_workload_runs_as_its_service_account() -> None:
    for function in FUNCTIONS:
        spec = one("Service", function)["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == f"knargo-{function}"
    webhook_account = one("ServiceAccount", "knargo-webhook")
    assert webhook_account["automountServiceAccountToken"] is False
    assert (
        one("Service", "webhook")["spec"]["template"]["spec"]["automountServiceAccountToken"]
        is False
    )
    assert one("EventSource")["spec"]["template"]["serviceAccountName"] == "knargo-events"
    assert settings().service_account == "knargo-pipeline"


# --- Knative Services ---------------------------------------------------------------------


def _dockerfile_user() -> int:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    (user,) = [line.split()[1] for line in lines if line.startswith("USER ")]
    return int(user.split(":")[0])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_service_is_sized_probed_and_unprivileged(function: str) -> None:
    service = one("Service", function)
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    spec = template["spec"]
    main = container(function)
    variables = env(function)
    # Warm webhook (forges time out in 10-30 s); generate and report scale to zero.
    assert annotations["autoscaling.knative.dev/min-scale"] == (
        "1" if function == "webhook" else "0"
    )
    assert int(annotations["autoscaling.knative.dev/max-scale"]) >= 1
    # Only webhook is reachable from outside the cluster.
    visibility = service["metadata"]["labels"].get("networking.knative.dev/visibility")
    assert visibility == (None if function == "webhook" else "cluster-local")
    # One worker; as many threads as requests Knative lets in at once.
    assert variables["WORKERS"] == "1"
    assert spec["containerConcurrency"] == int(variables["THREADS"]) * int(variables["WORKERS"])
    assert main["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert main["readinessProbe"]["tcpSocket"]["port"] == 8080
    assert {"cpu", "memory"} <= set(main["resources"]["requests"])
    assert {"cpu", "memory"} <= set(main["resources"]["limits"])
    assert 0 < spec["timeoutSeconds"] <= 600
    security = main["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == _dockerfile_user()
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    if function != "webhook":
        # The function's own timeout is above the Broker's per-attempt timeout, so the
        # Broker, which retries, decides.
        assert spec["timeoutSeconds"] > _seconds(delivery_patch()["timeout"])


def _seconds(duration: str) -> float:
    assert duration.startswith("PT") and duration.endswith("S"), duration
    return float(duration[2:-1])


# --- Broker, Triggers, SinkBinding --------------------------------------------------------

GENERATE_TYPES = {events.GIT_PUSH, events.GIT_PULL_REQUEST, events.GIT_COMMENT}
REPLY_TYPES = {events.PIPELINE_SUBMITTED, events.PIPELINE_REJECTED, events.PIPELINE_SKIPPED}
REPORT_TYPES = REPLY_TYPES | {events.WORKFLOW_UPDATED}


def triggers() -> dict[str, tuple[str, str]]:
    """Trigger name -> (exact type filter, subscriber)."""
    broker = one("Broker")["metadata"]["name"]
    found = {}
    for trigger in find("Trigger"):
        spec = trigger["spec"]
        assert spec["broker"] == broker
        assert "filters" not in spec, "exact attribute filters only"
        assert list(spec["filter"]) == ["attributes"]
        assert list(spec["filter"]["attributes"]) == ["type"], "exactly one attribute: type"
        subscriber = spec["subscriber"]
        assert subscriber["ref"]["kind"] == "Service" and "uri" not in subscriber
        found[trigger["metadata"]["name"]] = (
            spec["filter"]["attributes"]["type"],
            subscriber["ref"]["name"],
        )
    return found


def test_trigger_filters_are_the_event_type_constants() -> None:
    routed = triggers()
    by_subscriber: dict[str, set[str]] = {}
    for event_type, subscriber in routed.values():
        by_subscriber.setdefault(subscriber, set()).add(event_type)
    assert by_subscriber == {"generate": GENERATE_TYPES, "report": REPORT_TYPES}
    assert len(routed) == len(GENERATE_TYPES | REPORT_TYPES), "one Trigger per type"
    # generate's replies re-enter the Broker: none may ever reach generate again.
    assert not by_subscriber["generate"] & REPLY_TYPES
    for name, (event_type, subscriber) in routed.items():
        assert name == f"{subscriber}-{event_type.removeprefix('dev.knargo.')}".replace(
            ".", "-"
        ).replace("_", "-")


def test_every_delivery_retries_then_dead_letters_to_report() -> None:
    patch = delivery_patch()
    assert patch["retry"] >= 3 and patch["backoffPolicy"] == "exponential"
    assert _seconds(patch["backoffDelay"]) > 0
    assert patch["deadLetterSink"] == {
        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "report"},
        "uri": "/dead-letter",
    }
    one("Service", "report")  # the dead-letter sink exists
    for trigger in find("Trigger"):
        assert trigger["spec"]["delivery"] == patch, trigger["metadata"]["name"]
    assert one("Broker")["spec"]["delivery"] == patch


def test_the_broker_uses_its_own_channel_configuration() -> None:
    broker = one("Broker")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == (
        "MTChannelBasedBroker"
    )
    config = broker["spec"]["config"]
    assert (config["kind"], config["namespace"]) == ("ConfigMap", FUNCTIONS_NS)
    channel = one("ConfigMap", config["name"])
    template = yaml.safe_load(channel["data"]["channel-template-spec"])
    assert template["kind"].endswith("Channel")


def test_the_sink_binding_gives_webhook_the_broker() -> None:
    binding = one("SinkBinding")
    assert binding["spec"]["subject"] == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "webhook",
    }
    assert binding["spec"]["sink"]["ref"] == {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "name": one("Broker")["metadata"]["name"],
    }
    assert "K_SINK" not in env("webhook"), "the binding sets it; never both"


# --- Argo Events --------------------------------------------------------------------------


def test_the_event_source_watches_knargos_workflows() -> None:
    source = one("EventSource")
    bus = one("EventBus")["metadata"]["name"]
    assert source["spec"]["eventBusName"] == one("Sensor")["spec"]["eventBusName"] == bus
    (watch,) = source["spec"]["resource"].values()
    assert (watch["group"], watch["version"], watch["resource"]) == (
        "argoproj.io",
        "v1alpha1",
        "workflows",
    )
    assert watch["namespace"] == settings().namespace
    assert set(watch["eventTypes"]) == {"ADD", "UPDATE"}
    assert watch["filter"]["afterStart"] is True
    labels = {(s["key"], s["value"]) for s in watch["filter"]["labels"]}
    assert labels == set(MANAGED_BY.items())
    assert {s["operation"] for s in watch["filter"]["labels"]} == {"=="}


def test_the_sensor_posts_a_binary_cloudevent_to_the_broker() -> None:
    sensor = one("Sensor")
    source = one("EventSource")
    broker = one("Broker")["metadata"]
    (dependency,) = sensor["spec"]["dependencies"]
    assert dependency["eventSourceName"] == source["metadata"]["name"]
    assert dependency["eventName"] in source["spec"]["resource"]
    (trigger,) = sensor["spec"]["triggers"]
    http = trigger["template"]["http"]
    assert http["url"] == (
        "http://broker-ingress.knative-eventing.svc.cluster.local"
        f"/{broker['namespace']}/{broker['name']}"
    )
    assert http["method"] == "POST"
    assert http["headers"] == {
        "Content-Type": "application/json",
        "Ce-Specversion": "1.0",
        "Ce-Type": events.WORKFLOW_UPDATED,
        "Ce-Source": f"argo-events/{source['metadata']['namespace']}/{source['metadata']['name']}",
    }
    assert http["dynamicHeaders"] == [
        {"dest": "Ce-Id", "src": {"dependencyName": dependency["name"], "contextKey": "id"}}
    ]
    # The body is the Workflow object itself.
    assert http["payload"] == [
        {"dest": "", "src": {"dependencyName": dependency["name"], "dataKey": "body"}}
    ]
    assert trigger["atLeastOnce"] is True
    assert trigger["retryStrategy"]["steps"] > 1
    allowed = trigger["policy"]["status"]["allow"]
    assert allowed and all(200 <= code < 300 for code in allowed), "2xx only"
    assert 202 in allowed, "the broker ingress answers 202"


# Workflows as the resource EventSource sends them (`body`, `oldBody`: the previous object).
def _workflow(phase: str | None, nodes: dict[str, str] | None = None, **status: Any) -> Manifest:
    body: Manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "api-push-9f2c1e0-1a2b3c4d5e", "labels": dict(MANAGED_BY)},
        "spec": {"entrypoint": "pipeline"},
    }
    if phase is not None or nodes is not None or status:
        body["status"] = dict(status)
        if phase is not None:
            body["status"]["phase"] = phase
        if nodes is not None:
            body["status"]["nodes"] = {
                node: {"id": node, "phase": node_phase, "type": "Pod"}
                for node, node_phase in nodes.items()
            }
    return body


SENSOR_CASES = {
    "created": (None, _workflow(None), True),
    "first phase": (_workflow(None), _workflow("Running"), True),
    "invalid spec fails at once": (_workflow(None), _workflow("Failed", message="invalid"), True),
    "a node starts": (
        _workflow("Running", {"a": "Pending"}),
        _workflow("Running", {"a": "Running"}),
        True,
    ),
    "a node appears": (
        _workflow("Running", {"a": "Running"}),
        _workflow("Running", {"a": "Running", "b": "Pending"}),
        True,
    ),
    "a node goes": (
        _workflow("Running", {"a": "Running", "b": "Pending"}),
        _workflow("Running", {"a": "Running"}),
        True,
    ),
    "the workflow ends": (
        _workflow("Running", {"a": "Succeeded"}),
        _workflow("Succeeded", {"a": "Succeeded"}),
        True,
    ),
    "progress only": (
        _workflow("Running", {"a": "Running"}, progress="0/2"),
        _workflow("Running", {"a": "Running"}, progress="1/2", resourcesDuration={"cpu": 3}),
        False,
    ),
    "labels only": (_workflow("Succeeded"), _workflow("Succeeded"), False),
}


def _lua_value(lua: Any, value: Any) -> Any:
    """JSON to Lua as Argo Events' mapToTable converts it: nulls (and nested lists) vanish."""
    if isinstance(value, dict):
        table = lua.table()
        for key, item in value.items():
            if item is not None:
                table[key] = _lua_value(lua, item)
        return table
    if isinstance(value, list):
        table = lua.table()
        kept = [v for v in value if isinstance(v, dict | str | bool | int | float)]
        for index, item in enumerate(kept, start=1):
            table[index] = _lua_value(lua, item)
        return table
    if isinstance(value, bool | str):
        return value
    return float(value)


@pytest.mark.parametrize("case", list(SENSOR_CASES))
def test_the_sensor_filter_passes_phase_and_node_changes_only(case: str) -> None:
    from lupa.lua51 import LuaRuntime  # Lua 5.1, the language of Argo Events' gopher-lua

    old, new, fires = SENSOR_CASES[case]
    (dependency,) = one("Sensor")["spec"]["dependencies"]
    script = dependency["filters"]["script"]
    data = {"type": "ADD" if old is None else "UPDATE", "body": new, "oldBody": old}
    data = json.loads(json.dumps(data))  # exactly what JSON carries
    lua = LuaRuntime(unpack_returned_tuples=False)
    lua.globals().event = _lua_value(lua, {k: v for k, v in data.items() if v is not None})
    assert lua.execute(script) is fires


# --- Argo Workflows and Argo CD -----------------------------------------------------------


def test_the_argo_controller_configuration_matches_knargo() -> None:
    values = yaml.safe_load((KNATIVE / "argo-workflows" / "values.yaml").read_text())
    (config_map,) = load(KNATIVE / "argo-workflows" / "workflow-controller-configmap.yaml")
    defaults = yaml.safe_load(config_map["data"]["workflowDefaults"])
    assert values["controller"]["workflowDefaults"] == defaults, "Helm and plain installs agree"
    configured = settings()
    assert values["controller"]["workflowNamespaces"] == [configured.namespace]
    assert config_map["data"]["namespace"] == configured.namespace
    assert values["workflow"] == {"serviceAccount": {"create": False}, "rbac": {"create": False}}
    spec = defaults["spec"]
    assert spec["serviceAccountName"] == configured.service_account
    assert spec["activeDeadlineSeconds"] == configured.seconds("workflow_timeout")
    assert spec["ttlStrategy"]["secondsAfterCompletion"] == configured.seconds("retention")
    assert spec["podGC"]["deleteDelayDuration"] == f"{configured.seconds('pod_retention')}s"
    schema = json.loads(reference_path("schemas", "argo-workflows", "schema.json").read_text())
    validator = jsonschema.Draft202012Validator(
        {
            "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.WorkflowSpec",
            "definitions": schema["definitions"],
        }
    )
    assert [e.message for e in validator.iter_errors(spec)] == []


def test_argo_cd_manages_this_folder_and_leaves_injected_state_alone() -> None:
    (application,) = load(KNATIVE / "argocd" / "application.yaml")
    source = application["spec"]["source"]
    assert source["path"] == "knative" and source["repoURL"].endswith(".git")
    assert application["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "RespectIgnoreDifferences=true" in application["spec"]["syncPolicy"]["syncOptions"]
    ignored = {(i["kind"], i["name"]): i for i in application["spec"]["ignoreDifferences"]}
    assert ignored[("Secret", "knargo-credentials")]["jsonPointers"][0] == "/data"
    assert ignored[("ConfigMap", "knargo-secret-catalog")]["jsonPointers"] == ["/data"]
    assert "K_SINK" in ignored[("Service", "webhook")]["jqPathExpressions"][0]


# --- docs/deploy.md says what the manifests do --------------------------------------------

DOC = ROOT / "docs" / "deploy.md"


def _table(title: str) -> list[list[str]]:
    """The rows of the markdown table whose header row starts with `| title |`."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {title} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_deploy_doc_has_the_rbac_table() -> None:
    documented = {}
    for account, rights in _table("service account"):
        namespace, _, name = account.split()[0].strip("`").partition("/")
        grants = {}
        if not rights.startswith("nothing"):
            for grant in rights.split(";"):
                resource, _, verbs = grant.strip().partition(":")
                group = "" if resource == "pods/log" else "argoproj.io"  # the core group
                grants[(PIPELINE_NS, group, resource)] = {v.strip() for v in verbs.split(",")}
        documented[(namespace, name)] = grants
    assert documented == LEAST_PRIVILEGE


def test_the_deploy_doc_has_the_service_settings() -> None:
    rows = {row[0]: row[1:] for row in _table("setting")}
    for column, function in enumerate(FUNCTIONS):
        spec = one("Service", function)["spec"]["template"]["spec"]
        concurrency = rows["`containerConcurrency` = `THREADS` (`WORKERS` 1)"][column]
        assert concurrency == str(spec["containerConcurrency"])
        assert rows["`timeoutSeconds`"][column] == str(spec["timeoutSeconds"])
        annotations = one("Service", function)["spec"]["template"]["metadata"]["annotations"]
        scale = rows["scale"][column]
        low, high = (
            annotations["autoscaling.knative.dev/min-scale"],
            annotations["autoscaling.knative.dev/max-scale"],
        )
        assert scale.startswith(f"min {low}, max {high}")
