"""The loopback API server fake, driven by the real kubernetes client through a kubeconfig."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import (
    ApiException,
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
    ServiceException,
    UnauthorizedException,
    UnprocessableEntityException,
)

from kubefake import TOKEN, FakeKube, running_kube

ARGO = ("argoproj.io", "v1alpha1", "ci")
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with running_kube() as running:
        yield running


@pytest.fixture
def api_client(kube: FakeKube, tmp_path: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kube.kubeconfig(tmp_path)))
    yield api
    api.close()


@pytest.fixture
def crs(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def workflow(name: str, labels: dict[str, str] | None = None, template: str = "main") -> Any:
    metadata: dict[str, Any] = {"name": name} if name else {"generateName": "ci-"}
    if labels:
        metadata["labels"] = labels
    container = {"image": "alpine:3", "command": ["sh", "-c", "true"]}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": {"entrypoint": template, "templates": [{"name": template, "container": container}]},
    }


def cron(name: str, **spec: Any) -> Any:
    wf_spec = workflow("x")["spec"]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": name},
        "spec": {"schedules": ["0 3 * * *"], "workflowSpec": wf_spec, **spec},
    }


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> Any:
    return json.loads(exc.value.body)


def raw(kube: FakeKube, method: str, path: str, body: Any = None, **headers: str) -> Any:
    """A request without the client, for what the client would refuse to send."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", **headers}
    request = urllib.request.Request(kube.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_create_get_and_server_metadata(kube: FakeKube, crs: client.CustomObjectsApi) -> None:
    created = crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    meta = created["metadata"]
    assert meta["namespace"] == "ci"
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["managedFields"][0]["manager"] == "OpenAPI-Generator"  # from the User-Agent
    assert crs.get_namespaced_custom_object(*ARGO, "workflows", "wf-1") == created
    assert kube.objects("workflows", "ci") == [created]

    generated = crs.create_namespaced_custom_object(*ARGO, "workflows", workflow(""))
    assert generated["metadata"]["name"].startswith("ci-")
    assert len(generated["metadata"]["name"]) == len("ci-") + 5


def test_requests_the_client_sends(kube: FakeKube, crs: client.CustomObjectsApi) -> None:
    body = workflow("wf-1")
    crs.create_namespaced_custom_object(
        *ARGO, "workflows", body, field_manager="knargo", field_validation="Strict"
    )
    method, path, query, content_type, sent = kube.requests[-1]
    assert (method, path) == ("POST", "/apis/argoproj.io/v1alpha1/namespaces/ci/workflows")
    assert query == {"fieldManager": "knargo", "fieldValidation": "Strict"}
    assert content_type is None  # 37.0.2 sends a create without Content-Type
    assert sent == body
    headers = kube.headers[-1]
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == "OpenAPI-Generator/37.0.2/python"


def test_list_with_label_selectors(kube: FakeKube, crs: client.CustomObjectsApi) -> None:
    for name, labels in [
        ("a", {"app": "ci", "tier": "x"}),
        ("b", {"app": "ci", "tier": "y"}),
        ("c", {"app": "cd"}),
    ]:
        crs.create_namespaced_custom_object(*ARGO, "workflows", workflow(name, labels))
    cases = {
        "": "abc",
        "app=ci": "ab",
        "app==ci": "ab",
        "app!=ci": "c",
        "tier": "ab",
        "!tier": "c",
        "tier in (x, z)": "a",
        "tier notin (x)": "bc",
        "app=ci,tier!=x": "b",
    }
    for selector, expected in cases.items():
        listed = crs.list_namespaced_custom_object(*ARGO, "workflows", label_selector=selector)
        assert "".join(i["metadata"]["name"] for i in listed["items"]) == expected, selector
    assert listed["kind"] == "WorkflowList"
    assert listed["apiVersion"] == "argoproj.io/v1alpha1"
    assert int(listed["metadata"]["resourceVersion"]) >= 1003
    other = crs.list_namespaced_custom_object("argoproj.io", "v1alpha1", "prod", "workflows")
    assert other["items"] == []
    with pytest.raises(BadRequestException):
        crs.list_namespaced_custom_object(*ARGO, "workflows", label_selector="app in (")


def test_replace_needs_the_current_resource_version(crs: client.CustomObjectsApi) -> None:
    first = crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    changed = json.loads(json.dumps(first))
    changed["spec"]["entrypoint"] = "other"
    changed["spec"]["templates"][0]["name"] = "other"
    second = crs.replace_namespaced_custom_object(*ARGO, "workflows", "wf-1", changed)
    assert second["metadata"]["generation"] == 2
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert second["metadata"]["uid"] == first["metadata"]["uid"]

    with pytest.raises(ConflictException) as stale:
        crs.replace_namespaced_custom_object(*ARGO, "workflows", "wf-1", changed)
    assert status_of(stale)["reason"] == "Conflict"
    assert "the object has been modified" in status_of(stale)["message"]

    del changed["metadata"]["resourceVersion"]
    with pytest.raises(UnprocessableEntityException) as missing:
        crs.replace_namespaced_custom_object(*ARGO, "workflows", "wf-1", changed)
    assert status_of(missing)["details"]["causes"][0]["field"] == "metadata.resourceVersion"

    absent = second | {"metadata": second["metadata"] | {"name": "wf-2"}}
    with pytest.raises(NotFoundException):
        crs.replace_namespaced_custom_object(*ARGO, "workflows", "wf-2", absent)
    with pytest.raises(BadRequestException):  # the name in the body differs from the URL's
        crs.replace_namespaced_custom_object(*ARGO, "workflows", "wf-2", workflow("wf-1"))


def test_merge_and_json_patches(crs: client.CustomObjectsApi) -> None:
    crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1", {"a": "1"}))
    patch = {"metadata": {"labels": {"a": None, "b": "2"}}}
    patched = crs.patch_namespaced_custom_object(*ARGO, "workflows", "wf-1", patch)
    assert patched["metadata"]["labels"] == {"b": "2"}
    assert patched["metadata"]["generation"] == 1  # metadata only

    ops = [
        {"op": "test", "path": "/metadata/labels/b", "value": "2"},
        {"op": "add", "path": "/spec/templates/0/container/args", "value": ["x"]},
        {"op": "replace", "path": "/spec/entrypoint", "value": "main"},
    ]
    json_type = "application/json-patch+json"
    patched = crs.patch_namespaced_custom_object(
        *ARGO, "workflows", "wf-1", ops, _content_type=json_type
    )
    assert patched["spec"]["templates"][0]["container"]["args"] == ["x"]
    assert patched["metadata"]["generation"] == 2
    failing = [{"op": "test", "path": "/metadata/labels/b", "value": "3"}]
    with pytest.raises(UnprocessableEntityException):
        crs.patch_namespaced_custom_object(
            *ARGO, "workflows", "wf-1", failing, _content_type=json_type
        )
    with pytest.raises(
        ConflictException
    ) as stale:  # a resourceVersion in a patch is a precondition
        crs.patch_namespaced_custom_object(
            *ARGO, "workflows", "wf-1", {"metadata": {"resourceVersion": "1"}}
        )
    assert status_of(stale)["reason"] == "Conflict"
    with pytest.raises(NotFoundException):
        crs.patch_namespaced_custom_object(*ARGO, "workflows", "nope", patch)


def test_strategic_merge_patch_is_unsupported_for_custom_resources(
    kube: FakeKube, crs: client.CustomObjectsApi
) -> None:
    crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    with pytest.raises(ApiException) as refused:  # a dict sent as JSON patch becomes SMP
        crs.patch_namespaced_custom_object(
            *ARGO,
            "workflows",
            "wf-1",
            {"spec": {"suspend": True}},
            _content_type="application/json-patch+json",
        )
    assert refused.value.status == 415
    assert status_of(refused)["reason"] == "UnsupportedMediaType"
    assert kube.requests[-1].content_type == "application/strategic-merge-patch+json"


def test_server_side_apply_creates_then_updates(
    kube: FakeKube, crs: client.CustomObjectsApi
) -> None:
    def apply(body: Any) -> Any:
        options = {"field_manager": "knargo", "force": True, "_content_type": APPLY}
        return crs.patch_namespaced_custom_object(
            *ARGO, "cronworkflows", "nightly", body, **options
        )

    created = apply(cron("nightly", suspend=True))
    assert created is None  # 201 Created: the client only deserialises 200 for a patch
    method, _, query, content_type, body = kube.requests[-1]
    assert (method, content_type) == ("PATCH", APPLY)
    assert query == {"fieldManager": "knargo", "force": "true"}  # 37 sends "true", 36 "True"
    assert body == cron("nightly", suspend=True)  # sent as JSON, which is YAML
    [stored] = kube.objects("cronworkflows", "ci")
    assert stored["spec"]["suspend"] is True
    assert stored["metadata"]["managedFields"][0]["manager"] == "knargo"
    assert stored["metadata"]["managedFields"][0]["operation"] == "Apply"

    updated = apply(cron("nightly", schedules=["30 4 * * *"]))
    assert updated["spec"]["schedules"] == ["30 4 * * *"]
    assert "suspend" not in updated["spec"]  # no longer applied by this manager: removed
    assert updated["metadata"]["generation"] == 2
    assert updated["metadata"]["uid"] == stored["metadata"]["uid"]
    again = apply(cron("nightly", schedules=["30 4 * * *"]))
    assert again["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]

    edit = {"spec": {"timezone": "Europe/Paris", "suspend": True}}  # another manager's fields
    crs.patch_namespaced_custom_object(*ARGO, "cronworkflows", "nightly", edit)
    kept = apply(cron("nightly", schedules=["30 4 * * *"], suspend=True))
    assert kept["spec"]["timezone"] == "Europe/Paris"
    managers = {(e["manager"], e["operation"]) for e in kept["metadata"]["managedFields"]}
    assert managers == {("knargo", "Apply"), ("OpenAPI-Generator", "Update")}
    shared = apply(cron("nightly", schedules=["30 4 * * *"]))  # the other manager set it too
    assert shared["spec"]["suspend"] is True

    with pytest.raises(UnprocessableEntityException) as refused:  # apply needs a field manager
        crs.patch_namespaced_custom_object(
            *ARGO, "cronworkflows", "nightly", cron("nightly"), _content_type=APPLY
        )
    assert "fieldManager: Required value" in status_of(refused)["message"]
    with pytest.raises(UnprocessableEntityException) as forced:  # force is for apply only
        crs.patch_namespaced_custom_object(*ARGO, "cronworkflows", "nightly", {}, force=True)
    assert "force: Forbidden" in status_of(forced)["message"]


def test_delete(crs: client.CustomObjectsApi, kube: FakeKube) -> None:
    crs.create_namespaced_custom_object(*ARGO, "cronworkflows", cron("nightly"))
    body = {"preconditions": {"uid": "another"}}
    with pytest.raises(ConflictException) as precondition:
        crs.delete_namespaced_custom_object(*ARGO, "cronworkflows", "nightly", body=body)
    assert "Precondition failed" in status_of(precondition)["message"]
    deleted = crs.delete_namespaced_custom_object(*ARGO, "cronworkflows", "nightly")
    assert deleted["metadata"]["name"] == "nightly"  # custom resources answer with the object
    assert kube.objects("cronworkflows", "ci") == []
    for call in (crs.get_namespaced_custom_object, crs.delete_namespaced_custom_object):
        with pytest.raises(NotFoundException) as missing:
            call(*ARGO, "cronworkflows", "nightly")
        assert status_of(missing)["reason"] == "NotFound"
        assert status_of(missing)["message"] == 'cronworkflows.argoproj.io "nightly" not found'


def test_create_of_an_existing_name_is_already_exists(crs: client.CustomObjectsApi) -> None:
    crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    with pytest.raises(ConflictException) as duplicate:
        crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    assert duplicate.value.status == 409
    assert status_of(duplicate)["reason"] == "AlreadyExists"
    assert status_of(duplicate)["details"] == {
        "name": "wf-1",
        "group": "argoproj.io",
        "kind": "workflows",
    }


@pytest.mark.parametrize(
    ("plural", "body", "field", "message"),
    [
        (
            "workflows",
            workflow("wf-1", template="Build_Step"),
            "spec.templates[0].name",
            "should match '^[a-zA-Z0-9][-a-zA-Z0-9]*$'",
        ),
        ("cronworkflows", cron("c", schedules=[]), "spec.schedules", "at least 1 items"),
        ("cronworkflows", cron("c", schedules=None), "spec.schedules", "Required value"),
        (
            "cronworkflows",
            cron("c", concurrencyPolicy="Never"),
            "spec.concurrencyPolicy",
            "Unsupported value",
        ),
        ("workflows", workflow("Bad_Name"), "metadata.name", "RFC 1123 subdomain"),
        ("workflows", workflow("wf", {"a": "x" * 64}), "metadata.labels", "no more than 63"),
        ("workflows", workflow("wf", {"a": "-x"}), "metadata.labels", "a valid label"),
    ],
)
def test_invalid_objects_are_unprocessable(
    crs: client.CustomObjectsApi, plural: str, body: Any, field: str, message: str
) -> None:
    with pytest.raises(UnprocessableEntityException) as invalid:
        crs.create_namespaced_custom_object(*ARGO, plural, body)
    status = status_of(invalid)
    assert (status["code"], status["reason"], status["status"]) == (422, "Invalid", "Failure")
    [cause] = status["details"]["causes"]
    assert cause["field"] == field
    assert message in cause["message"]
    name = body["metadata"]["name"]
    assert status["message"].startswith(
        f'{body["kind"]}.argoproj.io "{name}" is invalid: {field}: '
    )


def test_bad_requests(crs: client.CustomObjectsApi) -> None:
    wrong_kind = workflow("wf-1") | {"kind": "CronWorkflow"}
    wrong_namespace = workflow("wf-1")
    wrong_namespace["metadata"]["namespace"] = "prod"
    for body in (wrong_kind, wrong_namespace, {"metadata": {"name": "x"}}):
        with pytest.raises(BadRequestException) as bad:
            crs.create_namespaced_custom_object(*ARGO, "workflows", body)
        assert status_of(bad)["reason"] == "BadRequest"


def test_unknown_fields_are_pruned_or_refused(crs: client.CustomObjectsApi) -> None:
    body = workflow("wf-1")
    body["spec"]["entrypointt"] = "typo"
    with pytest.raises(BadRequestException) as strict:
        crs.create_namespaced_custom_object(*ARGO, "workflows", body, field_validation="Strict")
    assert status_of(strict)["message"] == 'strict decoding error: unknown field "spec.entrypointt"'
    data, code, headers = crs.create_namespaced_custom_object_with_http_info(
        *ARGO, "workflows", body
    )
    assert code == 201
    assert "entrypointt" not in data["spec"]
    assert headers["Warning"] == '299 - "unknown field \\"spec.entrypointt\\""'


def test_crd_defaults_are_filled_in(crs: client.CustomObjectsApi) -> None:
    body = workflow("wf-1")
    env = [{"name": "A", "valueFrom": {"configMapKeyRef": {"key": "k"}}}]
    body["spec"]["templates"][0]["container"]["env"] = env
    created = crs.create_namespaced_custom_object(*ARGO, "workflows", body)
    ref = created["spec"]["templates"][0]["container"]["env"][0]["valueFrom"]["configMapKeyRef"]
    assert ref == {"key": "k", "name": ""}


def test_dry_run_does_not_persist(kube: FakeKube, crs: client.CustomObjectsApi) -> None:
    dry = crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"), dry_run="All")
    assert dry["metadata"]["uid"]
    assert "resourceVersion" not in dry["metadata"]
    assert kube.objects("workflows", "ci") == []
    with pytest.raises(UnprocessableEntityException):
        crs.create_namespaced_custom_object(
            *ARGO, "workflows", workflow("wf-1", template="A_B"), dry_run="All"
        )

    live = crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    patch = {"metadata": {"labels": {"x": "y"}}}
    crs.patch_namespaced_custom_object(*ARGO, "workflows", "wf-1", patch, dry_run="All")
    changed = json.loads(json.dumps(live))
    changed["spec"]["entrypoint"] = "other"
    crs.replace_namespaced_custom_object(*ARGO, "workflows", "wf-1", changed, dry_run="All")
    assert kube.objects("workflows", "ci") == [live]
    with pytest.raises(ConflictException) as exists:  # a dry run still sees what exists
        crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"), dry_run="All")
    assert status_of(exists)["reason"] == "AlreadyExists"


def test_configmaps(kube: FakeKube, core: client.CoreV1Api) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="script"), data={"run.sh": "x"})
    created = core.create_namespaced_config_map("ci", body)
    assert isinstance(created, client.V1ConfigMap)
    assert created.metadata.resource_version
    assert kube.requests[-1].body == {"metadata": {"name": "script"}, "data": {"run.sh": "x"}}
    read = core.read_namespaced_config_map("script", "ci")
    read.data["run.sh"] = "y"
    replaced = core.replace_namespaced_config_map("script", "ci", read)
    assert replaced.data == {"run.sh": "y"}
    with pytest.raises(ConflictException):
        core.replace_namespaced_config_map("script", "ci", read)  # stale resourceVersion
    listed = core.list_namespaced_config_map("ci")
    assert [c.metadata.name for c in listed.items] == ["script"]
    deleted = core.delete_namespaced_config_map("script", "ci")
    assert deleted["status"] == "Success"  # core resources answer with a Status (a dict in 37)
    with pytest.raises(NotFoundException):
        core.read_namespaced_config_map("script", "ci")

    bad_key = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"), data={"a/b": "x"})
    with pytest.raises(UnprocessableEntityException):
        core.create_namespaced_config_map("ci", bad_key)
    not_strings = {"metadata": {"name": "n"}, "data": {"a": 1}}  # the client's models refuse it
    code, status = raw(kube, "POST", "/api/v1/namespaces/ci/configmaps", not_strings)
    assert (code, status["reason"]) == (400, "BadRequest")


def test_secrets(kube: FakeKube, core: client.CoreV1Api) -> None:
    meta = client.V1ObjectMeta(name="token")
    created = core.create_namespaced_secret(
        "ci", client.V1Secret(metadata=meta, string_data={"t": "s3"})
    )
    assert created.data == {"t": "czM="}  # stringData is written into data
    assert created.type == "Opaque"
    created.data["t"] = "bmV3"
    assert core.replace_namespaced_secret("token", "ci", created).data == {"t": "bmV3"}
    core.delete_namespaced_secret("token", "ci")
    assert kube.objects("secrets", "ci") == []
    with pytest.raises(BadRequestException):
        core.create_namespaced_secret("ci", client.V1Secret(metadata=meta, data={"t": "no!"}))


def test_injected_failures(kube: FakeKube, crs: client.CustomObjectsApi) -> None:
    kube.fail_next(500)
    with pytest.raises(ServiceException) as failed:
        crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    assert status_of(failed)["reason"] == "InternalError"

    kube.fail_next(429, retry_after=3, path_contains="/workflows")
    with pytest.raises(ApiException) as throttled:  # no subclass for 429; POST is not retried
        crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    assert throttled.value.status == 429
    assert throttled.value.headers["Retry-After"] == "3"
    assert status_of(throttled)["reason"] == "TooManyRequests"

    crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-1"))
    kube.fail_next(429, retry_after=0)
    count = len(kube.requests)
    crs.get_namespaced_custom_object(*ARGO, "workflows", "wf-1")  # urllib3 retries GET itself
    assert len(kube.requests) == count + 2

    kube.forbid("create", "workflows")
    with pytest.raises(ForbiddenException) as denied:
        crs.create_namespaced_custom_object(*ARGO, "workflows", workflow("wf-2"))
    assert status_of(denied)["message"] == (
        'workflows.argoproj.io is forbidden: User "system:serviceaccount:knargo:generate" cannot '
        'create resource "workflows" in API group "argoproj.io" in the namespace "ci"'
    )


def test_authentication_and_routes(kube: FakeKube, crs: client.CustomObjectsApi) -> None:
    anonymous = client.CustomObjectsApi(client.ApiClient(client.Configuration(host=kube.url)))
    with pytest.raises(UnauthorizedException) as refused:
        anonymous.list_namespaced_custom_object(*ARGO, "workflows")
    assert status_of(refused)["reason"] == "Unauthorized"
    assert "authorization" not in kube.headers[-1]

    with pytest.raises(NotFoundException) as unknown:
        crs.list_namespaced_custom_object(*ARGO, "sensors")
    assert status_of(unknown)["message"] == "the server could not find the requested resource"
    code, status = raw(kube, "POST", "/apis/argoproj.io/v1alpha1/namespaces/ci/workflows/x", {})
    assert (code, status["reason"]) == (405, "MethodNotAllowed")


def test_latency_and_seeded_objects(kube: FakeKube, crs: client.CustomObjectsApi) -> None:
    seeded = kube.put_object(workflow("seeded") | {"status": {"phase": "Running"}})
    assert seeded["metadata"]["namespace"] == "default"
    kube.latency = 0.2
    started = time.monotonic()
    got = crs.get_namespaced_custom_object(*ARGO[:2], "default", "workflows", "seeded")
    assert time.monotonic() - started >= 0.2
    assert got["status"] == {"phase": "Running"}
