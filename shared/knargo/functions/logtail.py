"""The tail of a failed job's log as it may leave the cluster: bounded, secrets masked.

`masked_tail(text, values, cut_at_end)` keeps the last `MAX_LINES` lines and at most
`MAX_BYTES` bytes of them, with every occurrence of a secret value replaced by `***` before
anything is cut, so a cut never leaves part of a value behind:

* a whole value, wherever it appears (the longest first, so a value that contains another is
  masked whole);
* each line of a multi-line value (a PEM key, a JSON credential) on its own, as GitHub
  Actions does: the lines keep their secret where the tail starts inside the value, or the
  program printed them apart;
* where the text itself was cut at its end (the API server stops at a byte limit,
  `cut_at_end`), the start of a value that the cut left there; where it was cut at its start
  (the last bytes of an archived log, `cut_at_start`), the end of a value left there.

What it cannot mask is any value the job's script transformed: encoded (base64, URL
encoding), reversed, split by the program into pieces that are not lines of the value, or
printed with characters between its parts. Values of any length are masked here.

In the cluster report knows no value (it may not read Secrets): the job's own command masks
them as they are written (`knargo.translation.jobpod.main_command`), and this is a second
layer where values are known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "MAX_BYTES", "MAX_LINES", "masked_tail", "pod_name"]

MASK = "***"
MAX_LINES = 200
MAX_BYTES = 60 * 1024


def _pieces(values: Iterable[str]) -> list[str]:
    """Every value and every non-blank line of a multi-line value, the longest first."""
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        found.add(value)
        found.update(line.strip() for line in value.splitlines() if line.strip())
    return sorted(found, key=len, reverse=True)


def _mask(text: str, pieces: list[str]) -> str:
    for piece in pieces:
        text = text.replace(piece, MASK)
    return text


def _mask_cut_end(text: str, pieces: list[str]) -> str:
    """The end of a text cut in the middle of a value: the longest prefix of a value that
    the text ends with becomes `***`."""
    for size in range(min(len(text), max((len(p) for p in pieces), default=0)), 0, -1):
        end = text[-size:]
        if any(piece.startswith(end) for piece in pieces):
            return text[:-size] + MASK
    return text


def _mask_cut_start(text: str, pieces: list[str]) -> str:
    """The start of a text cut in the middle of a value: the longest end of a value that
    the text starts with becomes `***`."""
    for size in range(min(len(text), max((len(p) for p in pieces), default=0)), 0, -1):
        if any(piece.endswith(text[:size]) for piece in pieces):
            return MASK + text[size:]
    return text


def masked_tail(
    text: str,
    values: Iterable[str],
    cut_at_end: bool = False,
    max_lines: int = MAX_LINES,
    max_bytes: int = MAX_BYTES,
    cut_at_start: bool = False,
) -> str:
    """The last lines of `text` within the bounds, every secret value masked; `cut_at_end`,
    `cut_at_start`: the text was cut there, maybe inside a value."""
    pieces = _pieces(values)
    text = _mask(text, pieces)
    if cut_at_end:
        text = _mask_cut_end(text, pieces)
    if cut_at_start:
        text = _mask_cut_start(text, pieces)
    lines = text.splitlines()[-max_lines:]
    kept = "\n".join(lines)
    data = kept.encode()
    if len(data) > max_bytes:
        kept = data[-max_bytes:].decode("utf-8", "ignore")
        kept = kept.split("\n", 1)[1] if "\n" in kept else kept  # start on a whole line
    return kept


MAX_POD_PREFIX = 253 - 10 - 1
"""Argo's longest pod name prefix (`maxK8sResourceNameLength - k8sNamingHashLength - 1`)."""


def pod_name(workflow: str, node: Mapping[str, Any]) -> str:
    """The pod of a Workflow's node, named as Argo names pods (v2, the default since 3.4:
    `<workflow>-<template>-<FNV-1a 32 of the node's name>`; argo-workflows
    `workflow/util/pod_name.go`)."""
    name, template = str(node.get("name") or ""), str(node.get("templateName") or "")
    if not template:
        return str(node.get("id") or "")  # v1: the node id
    if name == workflow:
        return workflow
    digest = 2166136261
    for byte in name.encode():
        digest = ((digest ^ byte) * 16777619) & 0xFFFFFFFF
    return f"{f'{workflow}-{template}'[:MAX_POD_PREFIX]}-{digest}"
