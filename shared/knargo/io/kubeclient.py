"""The parts of the `kubernetes` client that `knargo.io.kube` calls, without the rest.

Python runs a package's `__init__` before any of its submodules, and `kubernetes/__init__.py`
imports everything: the kubeconfig loader (with oauthlib, requests and google-auth), the
dynamic client, watch, stream, leader election and informers, about 100 ms of the start-up
of generate and report that they never use. So before importing the client, this module
registers `kubernetes` and `kubernetes.config` as deferred packages: the real module objects
with their real `__path__` (submodules import as usual), whose `__init__` runs on the first
access of a name they do not hold yet. Code that uses the package as a whole (`kubernetes.
watch`, `from kubernetes import config`) still gets all of it. The kubeconfig loader is only
imported outside a cluster. `docs/architecture.md` compares this with the other ways.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

__all__ = [
    "ApiException",
    "ConfigException",
    "k8s",
    "kube_config",
    "load_incluster_config",
]


def defer(name: str) -> None:
    """Make `name` importable without running its `__init__` until a name it lacks is used."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an installed package")
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def initialise(attribute: str) -> Any:
        del module.__dict__["__getattr__"]
        loader.exec_module(module)
        return getattr(module, attribute)

    module.__dict__["__getattr__"] = initialise
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


defer("kubernetes")
defer("kubernetes.config")

import kubernetes.client as k8s  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.config.config_exception import ConfigException  # noqa: E402
from kubernetes.config.incluster_config import load_incluster_config  # noqa: E402


def kube_config() -> ModuleType:
    """The kubeconfig loader (`load_kube_config`, `list_kube_config_contexts`), imported now."""
    import kubernetes.config.kube_config as loader

    return loader
