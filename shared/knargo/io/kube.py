"""The one module that talks to Kubernetes, through the `kubernetes` client.

It submits Workflows (a name that exists already means a redelivery: not an error) and
reconciles a repository's CronWorkflows with server-side apply. For the admin commands it reads
and writes ConfigMaps and Secrets: writes are conditional (create, or replace at a
`resourceVersion`) and answer False when they lost a race, for the caller to read and retry. A
Secret's data never leaves this module: reads return its metadata only, and answers to writes
are dropped unread. API errors become knargo's exceptions here: 403 names the permission that
is missing, 429/5xx/timeouts are temporary (the broker redelivers), 400/422 are permanent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from urllib3.exceptions import HTTPError as TransportError

from knargo.contract.errors import ClusterForbidden, PermanentError, StartupError, TemporaryError
from knargo.io.kubeclient import (
    ApiException,
    ConfigException,
    k8s,
    kube_config,
    load_incluster_config,
)
from knargo.observability.metrics import Metrics

__all__ = ["Cluster"]

GROUP, VERSION = "argoproj.io", "v1alpha1"
FIELD_MANAGER = "knargo"
TIMEOUT = (3.0, 10.0)  # connect, read


class Cluster:
    """Workflows, CronWorkflows, and knargo's ConfigMaps and Secrets of one cluster."""

    def __init__(
        self,
        api_client: k8s.ApiClient | None = None,
        namespace: str | None = None,
        metrics: Metrics | None = None,
        *,
        connect: Callable[[], k8s.ApiClient] | None = None,
    ) -> None:
        """`api_client`, or `connect` to build it on first use: importing the client's
        `ApiClient` and `CustomObjectsApi` and building them costs a start-up about 80 ms
        (they import `kubernetes.utils`, dateutil and multiprocessing), which generate and
        report need only for their first Workflow."""
        if api_client is None and connect is None:
            raise TypeError("Cluster needs an api_client or a connect function")
        self._client = api_client
        self._connect = connect
        self._metrics = metrics
        self._lock = threading.Lock()
        self._custom_api: Any = None
        self._core_api: k8s.CoreV1Api | None = None
        self.namespace = namespace
        """The kubeconfig context's namespace, if it names one."""

    def _api_client(self) -> k8s.ApiClient:
        with self._lock:
            if self._client is None:
                assert self._connect is not None
                self._client = self._connect()
            return self._client

    @property
    def _api(self) -> Any:
        """The custom objects API (counted when there are metrics), created on first use."""
        if self._custom_api is None:
            api = k8s.CustomObjectsApi(self._api_client())
            self._custom_api = _Counted(api, self._metrics) if self._metrics is not None else api
        return self._custom_api

    def _core(self) -> k8s.CoreV1Api:
        """Created on first use: it loads ~250 model modules (a third of a second), which
        generate and report never need; only the admin commands read ConfigMaps and Secrets."""
        if self._core_api is None:
            self._core_api = k8s.CoreV1Api(self._api_client())
        return self._core_api

    def close(self) -> None:
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]

    @classmethod
    def connect(cls, environ: Mapping[str, str], metrics: Metrics | None = None) -> Cluster:
        """In a pod, the service account; elsewhere `KUBECONFIG` (or ~/.kube/config)."""
        configuration = k8s.Configuration()
        try:
            if environ.get("KUBERNETES_SERVICE_HOST"):
                load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            else:
                path = environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
                kube_config().load_kube_config(config_file=path, client_configuration=configuration)
        except (ConfigException, OSError, ValueError) as exc:
            raise StartupError(
                f"Kubernetes configuration (KUBECONFIG or the pod's service account): {exc}"
            ) from None
        # No hidden retries (urllib3 would sleep on 429/503): the broker redelivers instead.
        configuration.retries = False
        return cls(connect=lambda: k8s.ApiClient(configuration), metrics=metrics)

    @classmethod
    def from_kubeconfig(
        cls, path: str | None, context: str | None, environ: Mapping[str, str]
    ) -> Cluster:
        """A context (default: the current one) of a kubeconfig file: `path`, else
        `KUBECONFIG`, else ~/.kube/config. For the command line."""
        file = path or environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
        configuration = k8s.Configuration()
        try:
            contexts, current = kube_config().list_kube_config_contexts(config_file=file)
            kube_config().load_kube_config(
                config_file=file, context=context, client_configuration=configuration
            )
        except (ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
            raise StartupError(f"Kubernetes configuration {file}: {exc}") from None
        wanted = context or (current or {}).get("name")
        chosen = next((c.get("context") or {} for c in contexts if c.get("name") == wanted), {})
        configuration.retries = False
        return cls(k8s.ApiClient(configuration), chosen.get("namespace") or None)

    def create_workflow(self, manifest: Mapping[str, Any]) -> bool:
        """Create the Workflow; False when one of that name exists (a redelivery)."""
        namespace = manifest["metadata"]["namespace"]
        try:
            self._api.create_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                "workflows",
                dict(manifest),
                field_manager=FIELD_MANAGER,
                _request_timeout=TIMEOUT,
            )
        except ApiException as exc:
            if exc.status == 409 and _reason(exc) == "AlreadyExists":
                return False
            raise _error(exc, f'create workflows in namespace "{namespace}"') from None
        except TransportError as exc:
            raise TemporaryError(f"Kubernetes API unreachable: {type(exc).__name__}") from None
        return True

    def get_workflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Workflow as it is now; None once it is gone (e.g. deleted by its TTL)."""
        try:
            found = self._api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "workflows", name, _request_timeout=TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _error(exc, f'get workflows in namespace "{namespace}"') from None
        except TransportError as exc:
            raise TemporaryError(f"Kubernetes API unreachable: {type(exc).__name__}") from None
        return dict(found)

    def pod_log(
        self, namespace: str, pod: str, container: str, tail_lines: int, limit_bytes: int
    ) -> bytes | None:
        """The last `tail_lines` lines of a container's log, at most `limit_bytes` of them;
        None when the API server has none to give (the pod is gone, or report may not read
        it): the log is a courtesy, never a reason to hold a status back."""
        try:
            response: Any = self._core().read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=tail_lines,
                limit_bytes=limit_bytes,
                _preload_content=False,
                _request_timeout=TIMEOUT,
            )
            data: bytes = response.data
        except (ApiException, TransportError):
            return None
        return data

    def cron_workflows(self, namespace: str, selector: str) -> dict[str, dict[str, Any]]:
        """The CronWorkflows matching a label selector, by name."""
        try:
            found = self._api.list_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                "cronworkflows",
                label_selector=selector,
                _request_timeout=TIMEOUT,
            )
        except ApiException as exc:
            raise _error(exc, f'list cronworkflows in namespace "{namespace}"') from None
        except TransportError as exc:
            raise TemporaryError(f"Kubernetes API unreachable: {type(exc).__name__}") from None
        items: list[dict[str, Any]] = dict(found).get("items", [])
        return {item["metadata"]["name"]: item for item in items}

    def apply_cron_workflow(self, manifest: Mapping[str, Any]) -> None:
        """Create or update, by server-side apply (knargo owns every field it sets)."""
        meta = manifest["metadata"]
        try:
            self._api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                meta["namespace"],
                "cronworkflows",
                meta["name"],
                dict(manifest),
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
                _request_timeout=TIMEOUT,
            )
        except ApiException as exc:
            raise _error(exc, f'patch cronworkflows in namespace "{meta["namespace"]}"') from None
        except TransportError as exc:
            raise TemporaryError(f"Kubernetes API unreachable: {type(exc).__name__}") from None

    def delete_cron_workflow(self, namespace: str, name: str) -> None:
        """Delete; one that is already gone is fine."""
        try:
            self._api.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, "cronworkflows", name, _request_timeout=TIMEOUT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _error(exc, f'delete cronworkflows in namespace "{namespace}"') from None
        except TransportError as exc:
            raise TemporaryError(f"Kubernetes API unreachable: {type(exc).__name__}") from None

    def list_workflows(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The Workflows matching a label selector."""
        try:
            found = self._api.list_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                "workflows",
                label_selector=selector,
                _request_timeout=TIMEOUT,
            )
        except ApiException as exc:
            raise _error(exc, f'list workflows in namespace "{namespace}"') from None
        except TransportError as exc:
            raise TemporaryError(f"Kubernetes API unreachable: {type(exc).__name__}") from None
        items: list[dict[str, Any]] = dict(found).get("items", [])
        return items

    def patch_workflow(self, namespace: str, name: str, patch: Mapping[str, Any]) -> bool:
        """Merge `patch` into the Workflow (e.g. `spec.shutdown`, the way `argo terminate`
        does); False when it is gone."""
        return self._patch_workflow(namespace, name, dict(patch), "application/merge-patch+json")

    def json_patch_workflow(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> bool:
        """Apply a JSON patch (RFC 6902) to the Workflow; its `test` operations make it
        conditional (the API server answers 422 when one fails: PermanentError). False when
        the Workflow is gone."""
        return self._patch_workflow(namespace, name, ops, "application/json-patch+json")

    def _patch_workflow(self, namespace: str, name: str, body: Any, content_type: str) -> bool:
        try:
            self._api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                "workflows",
                name,
                body,
                field_manager=FIELD_MANAGER,
                _content_type=content_type,
                _request_timeout=TIMEOUT,
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _error(exc, f'patch workflows in namespace "{namespace}"') from None
        except TransportError as exc:
            raise TemporaryError(f"Kubernetes API unreachable: {type(exc).__name__}") from None
        return True

    def read_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ConfigMap; None when there is none."""
        action = f'get configmaps in namespace "{namespace}"'
        return self._core_call(action, (404,), "read_namespaced_config_map", name, namespace)

    def create_config_map(self, manifest: Mapping[str, Any]) -> bool:
        """Create; False when one of that name exists already (someone else was first)."""
        return self._write("config_map", manifest, replace=False)

    def replace_config_map(self, manifest: Mapping[str, Any]) -> bool:
        """Replace at `metadata.resourceVersion`; False when it changed or went away since."""
        return self._write("config_map", manifest, replace=True)

    def read_secret_metadata(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret's metadata (never its data); None when there is none."""
        action = f'get secrets in namespace "{namespace}"'
        found = self._core_call(action, (404,), "read_namespaced_secret", name, namespace)
        return None if found is None else dict(found.get("metadata") or {})

    def list_secret_metadata(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The metadata (never the data) of the Secrets matching a label selector."""
        action = f'list secrets in namespace "{namespace}"'
        call = "list_namespaced_secret"
        found = self._core_call(action, (), call, namespace, label_selector=selector) or {}
        return [dict(item.get("metadata") or {}) for item in found.get("items") or []]

    def create_secret(self, manifest: Mapping[str, Any]) -> bool:
        """Create; False when one of that name exists already."""
        return self._write("secret", manifest, replace=False)

    def replace_secret(self, manifest: Mapping[str, Any]) -> bool:
        """Replace at `metadata.resourceVersion`; False when it changed or went away since."""
        return self._write("secret", manifest, replace=True)

    def delete_secret(self, namespace: str, name: str, uid: str) -> bool:
        """Delete the Secret if it still is the object `uid`; False when gone or replaced."""
        action = f'delete secrets in namespace "{namespace}"'
        options = {"preconditions": {"uid": uid}}
        call = "delete_namespaced_secret"
        return self._core_call(action, (404, 409), call, name, namespace, body=options) is not None

    def _write(self, kind: str, manifest: Mapping[str, Any], *, replace: bool) -> bool:
        """Create or replace a `config_map` or `secret`, dropping the answer unread."""
        meta = manifest["metadata"]
        plural = {"config_map": "configmaps", "secret": "secrets"}[kind]
        action = f'{"update" if replace else "create"} {plural} in namespace "{meta["namespace"]}"'
        method = f"{'replace' if replace else 'create'}_namespaced_{kind}"
        args = (meta["name"], meta["namespace"]) if replace else (meta["namespace"],)
        lost = (404, 409) if replace else (409,)
        return self._core_call(action, lost, method, *args, dict(manifest), keep=False) is not None

    def _core_call(
        self,
        action: str,
        tolerated: Sequence[int],
        method: str,
        *args: Any,
        keep: bool = True,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """Call a `CoreV1Api` method and read its answer raw, not into the client's models;
        None for a `tolerated` status. `keep=False`: drop the answer unread (a Secret's)."""
        if method.startswith(("create_", "replace_")):
            kwargs["field_manager"] = FIELD_MANAGER
        try:
            response = getattr(self._core(), method)(
                *args, _preload_content=False, _request_timeout=TIMEOUT, **kwargs
            )
            data = response.data if keep else response.drain_conn()
        except ApiException as exc:
            if exc.status in tolerated:
                return None
            raise _error(exc, action) from None
        except TransportError as exc:
            raise TemporaryError(f"Kubernetes API unreachable: {type(exc).__name__}") from None
        answer = json.loads(data) if data else {}
        return answer if isinstance(answer, dict) else {}


class _Counted:
    """The custom objects API, counting each call by verb, resource and outcome."""

    def __init__(self, api: k8s.CustomObjectsApi, metrics: Metrics) -> None:
        self._api, self._metrics = api, metrics

    def __getattr__(self, method: str) -> Any:
        call = getattr(self._api, method)
        verb = method.split("_", 1)[0]

        def counted(*args: Any, **kwargs: Any) -> Any:
            resource = str(args[3]) if len(args) > 3 else "?"
            outcome = "ok"
            try:
                return call(*args, **kwargs)
            except ApiException as exc:
                outcome = str(exc.status)
                raise
            except TransportError:
                outcome = "unreachable"
                raise
            finally:
                self._metrics.kube_calls.inc(verb=verb, resource=resource, outcome=outcome)

        return counted


def _status(exc: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _reason(exc: ApiException) -> str:
    return str(_status(exc).get("reason", ""))


def _error(exc: ApiException, action: str) -> Exception:
    """The one mapping of Kubernetes API errors."""
    message = str(_status(exc).get("message", "")) or f"HTTP {exc.status}"
    status = exc.status or 0
    if status in (401, 403):
        return ClusterForbidden(f"Kubernetes refused to {action} ({status}): {message}")
    if status == 429 or status >= 500 or status == 409:
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        retry = headers.get("retry-after", "")
        return TemporaryError(
            f"Kubernetes could not {action} ({status}): {message}",
            float(retry) if retry.isdigit() else None,
        )
    return PermanentError(f"Kubernetes rejected the request to {action} ({status}): {message}")
