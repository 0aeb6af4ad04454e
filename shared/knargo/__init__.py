"""knargo: GitOps CI/CD for Kubernetes, from ci.yaml to Argo Workflows.

The public API is re-exported here and imported on first use, so `import knargo` stays cheap
for the functions and the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from knargo.catalog import FileCatalog, SecretCatalog, load_catalog
    from knargo.diagnostics import Diagnostic, Severity
    from knargo.dialect import CiConfig
    from knargo.events import GitEvent
    from knargo.lint import Checked, check
    from knargo.settings import Settings, load_settings
    from knargo.translate import Plan, plan, translate

__all__ = [
    "Checked",
    "CiConfig",
    "Diagnostic",
    "FileCatalog",
    "GitEvent",
    "Plan",
    "SecretCatalog",
    "Settings",
    "Severity",
    "check",
    "load_catalog",
    "load_settings",
    "plan",
    "translate",
]

_HOMES = {
    "Checked": "lint",
    "check": "lint",
    "CiConfig": "dialect",
    "Diagnostic": "diagnostics",
    "Severity": "diagnostics",
    "FileCatalog": "catalog",
    "SecretCatalog": "catalog",
    "load_catalog": "catalog",
    "GitEvent": "events",
    "Settings": "settings",
    "load_settings": "settings",
    "Plan": "translate",
    "plan": "translate",
    "translate": "translate",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"knargo.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'knargo' has no attribute {name!r}")
