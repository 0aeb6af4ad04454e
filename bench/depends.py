"""Render time and Workflow size of result-aware conditions at the size limit.

    .venv/bin/python bench/depends.py

A chain of 199 jobs (the most Argo v4's CRD accepts), each needing the one before, translated
through `knargo.translation.plan` for a push: plain; with one `if: failure()` job at its end
(its `depends` names every job before it); and with `if: failure() || success()` on every
job, the worst case (each `depends` names all the jobs before it). Prints the median render
time of 5 and the Workflow's size as compact JSON, against the 1 MiB `plan` allows.
"""

from __future__ import annotations

import json
import statistics
import time

from sample import PUSH

from knargo.config.settings import Settings
from knargo.language.lint import check
from knargo.translation.plan import MAX_MANIFEST_BYTES, plan

JOBS = 199


def chain(condition: str | None, every: bool) -> str:
    lines = ["on: [push]", "jobs:"]
    for index in range(JOBS):
        lines += [f"  job-{index}:", "    image: alpine:3.20", "    run: make test"]
        if index:
            lines.append(f"    needs: job-{index - 1}")
        if condition and index and (every or index == JOBS - 1):
            lines.append(f'    if: "{condition}"')
    return "\n".join(lines) + "\n"


def measure(text: str) -> tuple[float, int]:
    settings = Settings.embedded()
    checked = check(text, "ci.yaml", settings=settings)
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    times, size = [], 0
    for _ in range(5):
        start = time.perf_counter()
        result = plan(checked.config, PUSH, settings)
        times.append(time.perf_counter() - start)
        assert result.workflow is not None, result.rejected
        size = len(json.dumps(result.workflow, separators=(",", ":")))
    return statistics.median(times), size


def main() -> None:
    cases = {
        "plain chain": chain(None, every=False),
        "failure() job at the end": chain("failure()", every=False),
        "failure() || success() on every job": chain("failure() || success()", every=True),
    }
    print(f"{JOBS}-job chain, render median of 5, Workflow bytes (limit {MAX_MANIFEST_BYTES:,})")
    for name, text in cases.items():
        seconds, size = measure(text)
        print(f"  {name:<38} {seconds * 1000:7.1f} ms  {size:>9,} bytes")


if __name__ == "__main__":
    main()
