"""A job's `matrix:`: its combinations, as GitHub Actions computes them, and their names.

The axes (every key but `include` and `exclude`) give the cartesian product, in the order
written (the first axis varies slowest). Then, as GitHub Actions does:

* each `exclude` entry removes the combinations that have all of its key/value pairs;
* each `include` entry is added to every remaining combination whose original axes it does
  not contradict (the values it adds may overwrite what an earlier `include` added, never an
  axis' value); an entry that fits no combination becomes a combination of its own. A matrix
  of `include` entries only has those as its combinations.

Values are text exactly as written (`3.10` stays `3.10`). `${{ matrix.<axis> }}` is replaced
in a job's `image`, `runner`, `env` values and `name`; the script gets `MATRIX_<AXIS>`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "AXIS",
    "MAX_COMBINATIONS",
    "REFERENCE",
    "Combination",
    "combinations",
    "display_name",
    "display_names",
    "env_name",
    "references",
    "substitute",
]

AXIS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# GitHub Actions' limit of jobs one matrix may generate.
MAX_COMBINATIONS = 256
REFERENCE = re.compile(r"\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
KEYWORDS = ("include", "exclude")

Combination = dict[str, str]


def combinations(
    axes: Mapping[str, Sequence[str]],
    include: Iterable[Mapping[str, str]] = (),
    exclude: Iterable[Mapping[str, str]] = (),
) -> list[Combination]:
    """The combinations of a matrix, in a deterministic order, without duplicates."""
    excluded = [dict(e) for e in exclude]
    base: list[Combination] = []
    if axes:
        names = list(axes)
        for values in itertools.product(*(axes[n] for n in names)):
            combination = dict(zip(names, values, strict=True))
            if not any(_matches(combination, e) for e in excluded):
                base.append(combination)
    extra: list[Combination] = []
    for entry in include:
        fitted = False
        for combination in base:
            if all(combination[k] == v for k, v in entry.items() if k in axes):
                combination.update(entry)
                fitted = True
        if not fitted:
            extra.append(dict(entry))
    unique: dict[tuple[tuple[str, str], ...], Combination] = {}
    for combination in base + extra:
        unique.setdefault(tuple(sorted(combination.items())), combination)
    return list(unique.values())


def _matches(combination: Mapping[str, str], entry: Mapping[str, str]) -> bool:
    return all(combination.get(k) == v for k, v in entry.items())


def env_name(axis: str) -> str:
    """`node-version` → `MATRIX_NODE_VERSION`."""
    return "MATRIX_" + axis.upper().replace("-", "_")


def references(text: str) -> list[tuple[str, int]]:
    """The axes `text` refers to with `${{ matrix.<axis> }}`, with their offsets."""
    return [(m.group(1), m.start()) for m in REFERENCE.finditer(text)]


def substitute(text: str, combination: Mapping[str, str]) -> str:
    """`text` with each `${{ matrix.<axis> }}` replaced by the combination's value (an axis
    the combination lacks, as in an `include` of its own, gives an empty string, as in
    GitHub Actions)."""
    return REFERENCE.sub(lambda m: combination.get(m.group(1), ""), text)


def display_name(job_id: str, name: str | None, combination: Mapping[str, str] | None) -> str:
    """How a job (or one combination of it) is shown: in statuses, `--job`, and the UI.

    Without a matrix: its `name`, else its id. A combination: its `name` when that refers
    to the matrix, else the name (or id) followed by the values in parentheses, as GitHub
    Actions shows them: `test (3.12, ubuntu)`.
    """
    if combination is None:
        return _untagged(name or job_id)
    if name and REFERENCE.search(name):
        return _untagged(substitute(name, combination))
    values = ", ".join(combination.values())
    return _untagged(f"{name or job_id} ({values})")


def _untagged(shown: str) -> str:
    """A name without `{{`, which Argo would take for a tag in the template's annotation
    (and fail the template on): `{ {`, as knargo writes annotations."""
    while "{{" in shown:
        shown = shown.replace("{{", "{ {")
    return shown


def display_names(job_id: str, name: str | None, combinations: Sequence[Combination]) -> list[str]:
    """`display_name` of each combination; combinations that would be shown alike (one
    axis' `3.1` and another's) show their keys too: `test (python=3.1)`. A `name` that
    refers to the matrix is kept as the user wrote it (lint reports a clash)."""
    shown = [display_name(job_id, name, c) for c in combinations]
    if name and REFERENCE.search(name):
        return shown
    counts = {s: shown.count(s) for s in shown}
    keyed = [
        _untagged(f"{name or job_id} ({', '.join(f'{k}={v}' for k, v in c.items())})")
        for c in combinations
    ]
    return [s if counts[s] == 1 else k for s, k in zip(shown, keyed, strict=True)]
