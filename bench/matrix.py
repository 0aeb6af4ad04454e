"""Render time and Workflow size of a 3-axis matrix (what `make bench` prints).

    .venv/bin/python bench/matrix.py [--quick] [--json]

In process, medians of several runs, for a job with a 3-axis matrix (`image`, `env` and
`name` using the values, plus a job that needs every combination):

* 256 combinations (8 x 8 x 4), GitHub Actions' limit per job: `knargo.language.lint.check`
  (which reports that the pipeline passes Argo Workflows v4's limit of 199 jobs), then the
  model, the translation (`SpecBuilder.spec`, as `plan` calls it) and the YAML `knargo render`
  writes. Its Workflow is measured as compact JSON (what the API server stores; the limit is
  1 MiB). `plan` itself refuses it for the 199-job limit, so it is not part of the time.
* 196 combinations (7 x 7 x 4), the largest such matrix a Workflow takes: the whole of
  `knargo render` in process, `check`, `plan` and the YAML, and its Workflow's size.

The time is measured with bytecode cached and without it (the harness' two modes); a render
in one process imports nothing either way after the first run.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from harness import main, runs
from sample import PUSH

from knargo.cli.render import dump
from knargo.config.settings import Settings
from knargo.formats import positions
from knargo.language.dialect import CiConfig
from knargo.language.lint import check
from knargo.translation.plan import plan
from knargo.translation.templates import SpecBuilder

GOAL_SECONDS = 0.3
GOAL_BYTES = 1024 * 1024


def pipeline(first: int, second: int, third: int) -> str:
    def values(prefix: str, count: int) -> str:
        return "[" + ", ".join(f'"{prefix}{i}"' for i in range(count)) + "]"

    return (
        "on: [push]\n"
        "jobs:\n"
        "  test:\n"
        "    name: test ${{ matrix.python }} on ${{ matrix.os }} with ${{ matrix.db }}\n"
        "    image: python:3.${{ matrix.python }}\n"
        "    run: pytest -q\n"
        "    env:\n"
        "      TOXENV: py${{ matrix.python }}\n"
        "    matrix:\n"
        f"      python: {values('1', first)}\n"
        f"      os: {values('os', second)}\n"
        f"      db: {values('db', third)}\n"
        "  report:\n"
        "    needs: test\n"
        "    image: alpine:3.20\n"
        "    run: echo done\n"
    )


def translate_256() -> tuple[int, int]:
    """Seconds are measured around this; returns (JSON bytes, YAML bytes) of the Workflow."""
    settings = Settings.embedded()
    text = pipeline(8, 8, 4)
    checked = check(text, "ci.yaml", settings=settings)
    assert checked.config is None
    assert "199" in checked.diagnostics[0].message
    doc, _ = positions.load(text, "ci.yaml")
    assert doc is not None
    config = CiConfig.model_validate(doc.data)
    builder = SpecBuilder(config, PUSH, settings, None, [])
    workflow: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "bench", "namespace": settings.namespace},
        "spec": builder.spec(dict(config.jobs), "push"),
    }
    assert len(workflow["spec"]["templates"]) == 256 + 2
    rendered = dump([workflow], "yaml")
    return len(json.dumps(workflow, separators=(",", ":"))), len(rendered)


def render_196() -> tuple[int, int]:
    settings = Settings.embedded()
    checked = check(pipeline(7, 7, 4), "ci.yaml", settings=settings)
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    result = plan(checked.config, PUSH, settings)
    assert result.workflow is not None, result.rejected
    rendered = dump(result.manifests, "yaml")
    return len(json.dumps(result.workflow, separators=(",", ":"))), len(rendered)


def timed(work: Any, count: int) -> tuple[float, tuple[int, int]]:
    samples, sizes = [], (0, 0)
    for _ in range(count):
        start = time.perf_counter()
        sizes = work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), sizes


def measure(
    mode: str, env: dict[str, str], quick: bool
) -> list[tuple[str, float, float, bool, str]]:
    rows: list[tuple[str, float, float, bool, str]] = []
    for label, work in (
        ("256 combinations: lint + translate + YAML", translate_256),
        ("196 combinations: knargo render in process", render_196),
    ):
        seconds, (json_bytes, yaml_bytes) = timed(work, runs(quick, 7))
        rows.append((f"{label}, ms", seconds * 1000, GOAL_SECONDS * 1000, False, "ms"))
        rows.append((f"{label}, Workflow JSON", json_bytes, GOAL_BYTES, False, "bytes"))
        rows.append((f"{label}, Workflow YAML", yaml_bytes, GOAL_BYTES, False, "bytes"))
    return rows


MEASURES = [measure]

if __name__ == "__main__":
    main(MEASURES, __doc__ or "")
