"""What `knargo runners check` decides: every problem Kubernetes would refuse a pod for.

The `runners:` aliases of a configuration file are checked as written, with positions: keys,
resource names and quantities (requests not above limits, extended resources whole and not
overcommitted), node selector labels and tolerations. `runners_of` reads the aliases of a
configuration found clean. Everything here is a function of its arguments.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from knargo.config.admin import InvalidInput
from knargo.config.quantities import parse_quantity
from knargo.config.settings import Runner, Settings
from knargo.formats import positions
from knargo.formats.diagnostics import Diagnostic, Severity, normalize
from knargo.formats.locate import quote_list, suggest

__all__ = ["check_runners", "runners_of"]

_RUNNER_KEYS = ("limits", "nodeSelector", "requests", "security", "tolerations")
_SECURITY_KEYS = ("allowPrivilegeEscalation", "capabilities", "seccomp")
_SECCOMP = ("RuntimeDefault", "Unconfined")
# Linux capabilities as Kubernetes names them (without CAP_), from capabilities(7).
_CAPABILITIES = [
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYSLOG",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
]
_TOLERATION_KEYS = ("effect", "key", "operator", "tolerationSeconds", "value")
_CHOICES = {
    "operator": ("Equal", "Exists"),
    "effect": ("NoExecute", "NoSchedule", "PreferNoSchedule"),
}
_STANDARD_RESOURCES = ("cpu", "ephemeral-storage", "memory")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_KINDS: dict[type, str] = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    int: "a whole number",
    bool: "true or false",
}
Path = positions.Path


class _Checker:
    """Collects the diagnostics of the runner aliases of one configuration document."""

    def __init__(self, doc: positions.Document, file: str) -> None:
        self.doc, self.file = doc, file
        self.found: list[Diagnostic] = []

    def error(self, path: Path, message: str, rule: str = "schema", on_key: bool = False) -> None:
        self.report(Severity.ERROR, path, message, rule, on_key)

    def report(
        self, severity: Severity, path: Path, message: str, rule: str, on_key: bool = False
    ) -> None:
        mark = self.doc.key_mark(path) if on_key else self.doc.value_mark(path)
        self.found.append(Diagnostic(self.file, mark.line, mark.col, severity, message, rule))

    def expect(self, path: Path, value: Any, kind: type, what: str) -> bool:
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return True
        self.error(path, f"{what} must be {_KINDS[kind]}, not {_show(value)}")
        return False

    def keys(self, path: Path, value: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in (k for k in value if k not in allowed):
            message = f'unknown key "{key}" in {where} (expected one of: {quote_list(allowed)})'
            self.error((*path, key), message + suggest(key, allowed), on_key=True)

    def runner(self, alias: str, value: Any) -> None:
        path, where = ("runners", alias), f'runner "{alias}"'
        if not self.expect(path, value, dict, where):
            return
        self.keys(path, value, _RUNNER_KEYS, where)
        requests = self.resources((*path, "requests"), value.get("requests", {}), where)
        limits = self.resources((*path, "limits"), value.get("limits", {}), where)
        for resource, request in requests.items():
            if resource in limits:
                self.compare(path, resource, request, limits[resource], where)
        selector = value.get("nodeSelector", {})
        if self.expect((*path, "nodeSelector"), selector, dict, f"nodeSelector of {where}"):
            for key, label in selector.items():
                self.label((*path, "nodeSelector", key), key, label, f"nodeSelector of {where}")
        tolerations = value.get("tolerations", [])
        if self.expect((*path, "tolerations"), tolerations, list, f"tolerations of {where}"):
            for i, toleration in enumerate(tolerations):
                self.toleration(
                    (*path, "tolerations", i), toleration, f"toleration {i + 1} of {where}"
                )
        if "security" in value:
            self.security((*path, "security"), value["security"], f"security of {where}")

    def resources(self, path: Path, value: Any, where: str) -> dict[str, Fraction]:
        amounts: dict[str, Fraction] = {}
        if not self.expect(path, value, dict, f"{path[-1]} of {where}"):
            return amounts
        for resource, amount in value.items():
            at, what = (*path, resource), f"{path[-1]}.{resource} of {where}"
            problem = _resource_problem(resource)
            if problem:
                self.error(at, problem, "resources", on_key=True)
            if isinstance(amount, bool) or not isinstance(amount, str | int | float):
                self.error(at, f"{what} must be a quantity, not {_show(amount)}", "quantity")
                continue
            text = amount if isinstance(amount, str) else self.doc.raw.get(at, str(amount))
            try:
                quantity = amounts[resource] = parse_quantity(text)
            except InvalidInput as exc:
                self.error(at, str(exc), "quantity")
                continue
            if quantity < 0:
                self.error(at, f'{what} must not be negative, not "{text}"', "quantity")
            elif "/" in resource and quantity.denominator != 1:
                message = f'{what} must be a whole number (an extended resource), not "{text}"'
                self.error(at, message, "quantity")
        return amounts

    def compare(
        self, path: Path, resource: str, request: Fraction, limit: Fraction, where: str
    ) -> None:
        at = (*path, "requests", resource)
        given = f'requests.{resource} "{self.doc.raw.get(at, "")}" of {where}'
        bound = f'limits.{resource} "{self.doc.raw.get((*path, "limits", resource), "")}"'
        if request > limit:
            self.error(at, f"{given} is more than {bound}", "resources")
        elif "/" in resource and request != limit:
            message = f"{given} must equal {bound}: extended resources cannot be overcommitted"
            self.error(at, message, "resources")

    def label(self, path: Path, key: str, value: Any, where: str) -> None:
        if not self.expect(path, value, str, f'"{key}" in {where}'):
            return
        if not _label_key(key):
            self.error(path, f'invalid label key "{key}" in {where}', "node-selector", on_key=True)
        elif len(value) > 63 or (value and not _LABEL.fullmatch(value)):
            message = (
                f'invalid label value "{value}" in {where} (at most 63 letters, digits, '
                "-, _ and ., starting and ending with a letter or digit)"
            )
            self.error(path, message, "node-selector")

    def security(self, path: Path, value: Any, where: str) -> None:
        if not self.expect(path, value, dict, where):
            return
        self.keys(path, value, _SECURITY_KEYS, where)
        relaxed: list[str] = []
        escalation = value.get("allowPrivilegeEscalation", False)
        at = (*path, "allowPrivilegeEscalation")
        if self.expect(at, escalation, bool, f"allowPrivilegeEscalation of {where}") and escalation:
            relaxed.append("privilege escalation")
        capabilities = value.get("capabilities", [])
        if self.expect((*path, "capabilities"), capabilities, list, f"capabilities of {where}"):
            for i, name in enumerate(capabilities):
                at, what = (*path, "capabilities", i), f"capability {i + 1} of {where}"
                if not self.expect(at, name, str, what):
                    continue
                if name not in _CAPABILITIES:
                    message = f'unknown capability "{name}" in {where}'
                    self.error(at, message + suggest(name.removeprefix("CAP_"), _CAPABILITIES))
            relaxed += [f"capability {c}" for c in capabilities if isinstance(c, str)]
        seccomp = value.get("seccomp", "RuntimeDefault")
        if self.expect((*path, "seccomp"), seccomp, str, f"seccomp of {where}"):
            if seccomp not in _SECCOMP:
                message = f'unknown seccomp "{seccomp}" in {where} (expected one of: '
                self.error((*path, "seccomp"), message + f"{quote_list(_SECCOMP)})")
            elif seccomp == "Unconfined":
                relaxed.append("no seccomp profile")
        if relaxed:
            message = (
                f"{where} relaxes the job container ({', '.join(relaxed)}): every job on this "
                "runner, a fork's pull request included, gets it"
            )
            self.report(Severity.WARNING, path, message, "security", on_key=True)

    def toleration(self, path: Path, value: Any, where: str) -> None:
        if not self.expect(path, value, dict, where):
            return
        self.keys(path, value, _TOLERATION_KEYS, where)
        typed: dict[str, Any] = {}
        for field in (f for f in _TOLERATION_KEYS if value.get(f) is not None):
            kind = int if field == "tolerationSeconds" else str
            if self.expect((*path, field), value[field], kind, f'"{field}" of {where}'):
                typed[field] = value[field]
        operator, key = typed.get("operator") or "Equal", typed.get("key")
        for field, choices in _CHOICES.items():
            given = typed.get(field)
            if given is not None and given not in choices:
                message = f'unknown {field} "{given}" in {where} (expected one of: '
                message += f"{quote_list(choices)}){suggest(given, choices)}"
                self.error((*path, field), message, "toleration")
        if key and not _label_key(key):
            self.error((*path, "key"), f'invalid key "{key}" in {where}', "toleration")
        if operator == "Exists" and typed.get("value"):
            message = f"{where} has operator Exists, which takes no value"
            self.error((*path, "value"), message, "toleration")
        if operator == "Equal" and value.get("key") in (None, ""):
            message = f"{where} has no key: only operator Exists matches every taint"
            self.error(path, message, "toleration")
        if typed.get("tolerationSeconds") is not None and typed.get("effect") != "NoExecute":
            message = f"tolerationSeconds of {where} needs effect NoExecute"
            self.error((*path, "tolerationSeconds"), message, "toleration")


def check_runners(text: str, file: str) -> list[Diagnostic]:
    """Every problem of the `runners:` aliases of a configuration file, sorted."""
    doc, found = positions.load(text, file)
    if doc is None or found:
        return normalize(found)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        return [Diagnostic(file, 1, 1, Severity.ERROR, "expected a mapping", "schema")]
    if "runners" not in data:
        return []  # the built-in `default` alias applies
    checker = _Checker(doc, file)
    if checker.expect(("runners",), data["runners"], dict, '"runners"'):
        for alias, value in data["runners"].items():
            checker.runner(alias, value)
        if "default" not in data["runners"]:
            message = 'missing the "default" runner alias, which jobs without runner: use'
            message += f" (configured: {quote_list(data['runners'])})"
            checker.error(("runners",), message, "default-runner", on_key=True)
    return normalize(checker.found)


def runners_of(text: str) -> dict[str, Runner]:
    """The runner aliases of a configuration that `check_runners` found clean."""
    doc, _ = positions.load(text, "config.yaml")
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    if "runners" not in data:
        built_in: dict[str, Runner] = Settings.model_fields["runners"].get_default(
            call_default_factory=True
        )
        return built_in
    return {alias: Runner.model_validate(value) for alias, value in data["runners"].items()}


def _resource_problem(name: str) -> str | None:
    if name in _STANDARD_RESOURCES or name.startswith("hugepages-"):
        return None
    prefix, _, rest = name.partition("/")
    if rest and _label_key(name) and not prefix.endswith("kubernetes.io"):
        return None  # an extended resource, e.g. nvidia.com/gpu
    return (
        f'unknown resource "{name}" (expected {quote_list(_STANDARD_RESOURCES)}, '
        "hugepages-<size> or an extended resource such as nvidia.com/gpu)"
        + suggest(name, _STANDARD_RESOURCES)
    )


def _label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL.fullmatch(name))


def _show(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return f'"{value}"' if isinstance(value, str) else f"{value} (a number)"
