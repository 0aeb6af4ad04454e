"""The one module that talks to Kubernetes, through the `kubernetes` client.

It submits Workflows (a name that exists already means a redelivery: not an error) and
reconciles a repository's CronWorkflows with server-side apply. API errors become knargo's
exceptions here: 403 names the permission that is missing, 429/5xx/timeouts are temporary
(the broker redelivers), 400/422 are permanent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from knargo.errors import ClusterForbidden, PermanentError, StartupError, TemporaryError

__all__ = ["Cluster"]

GROUP, VERSION = "argoproj.io", "v1alpha1"
FIELD_MANAGER = "knargo"
TIMEOUT = (3.0, 10.0)  # connect, read


class Cluster:
    """Workflows and CronWorkflows of one cluster."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._client = api_client
        self._api = k8s.CustomObjectsApi(api_client)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    @classmethod
    def connect(cls, environ: Mapping[str, str]) -> Cluster:
        """In a pod, the service account; elsewhere `KUBECONFIG` (or ~/.kube/config)."""
        configuration = k8s.Configuration()
        try:
            if environ.get("KUBERNETES_SERVICE_HOST"):
                k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            else:
                path = environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=path, client_configuration=configuration
                )
        except (k8s_config.ConfigException, OSError, ValueError) as exc:
            raise StartupError(
                f"Kubernetes configuration (KUBECONFIG or the pod's service account): {exc}"
            ) from None
        # No hidden retries (urllib3 would sleep on 429/503): the broker redelivers instead.
        configuration.retries = False
        return cls(k8s.ApiClient(configuration))

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
        return dict(found)  # type: ignore[call-overload,no-any-return]

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
        items: list[dict[str, Any]] = dict(found).get("items", [])  # type: ignore[call-overload]
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
