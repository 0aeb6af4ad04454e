"""knargo: GitOps CI/CD for Kubernetes, from ci.yaml to Argo Workflows.

The public API is re-exported here and imported on first use, so `import knargo` stays cheap
for the functions and the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from knargo.config.catalog import FileCatalog, SecretCatalog, load_catalog
    from knargo.config.settings import Settings, load_settings
    from knargo.contract.events import GitEvent
    from knargo.formats.diagnostics import Diagnostic, Severity
    from knargo.language.dialect import CiConfig
    from knargo.language.lint import Checked, check
    from knargo.translation.plan import Plan, plan, translate

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
    "Checked": "language.lint",
    "check": "language.lint",
    "CiConfig": "language.dialect",
    "Diagnostic": "formats.diagnostics",
    "Severity": "formats.diagnostics",
    "FileCatalog": "config.catalog",
    "SecretCatalog": "config.catalog",
    "load_catalog": "config.catalog",
    "GitEvent": "contract.events",
    "Settings": "config.settings",
    "load_settings": "config.settings",
    "Plan": "translation.plan",
    "plan": "translation.plan",
    "translate": "translation.plan",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"knargo.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'knargo' has no attribute {name!r}")
