"""What `checkout:` adds to a Workflow, in bytes.

    .venv/bin/python bench/checkout.py

A pipeline of 100 plain jobs (`image`, `run`) as `knargo render -o json` prints it for a
push, as compact JSON (what the Kubernetes API stores), three ways: without any
`checkout:` (the init script of old), with one top-level `checkout: {depth: 0, tags: true}`
(every job alike: the options script and the words travel once, in `templateDefaults`), and
with each job's own `checkout: {depth: N}` (N = 0..6, so the words differ). Prints the sizes
and the bytes per job beyond the shared script.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from knargo.cli import main

JOBS = 100
JOB = "    image: alpine:3.20\n    run: make test\n"


def size(ci_yaml: str) -> int:
    """Bytes of the Workflow `knargo render` prints for a push, as compact JSON."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ci.yaml"
        path.write_text(ci_yaml)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["render", "-o", "json", str(path)]) == 0
    (workflow,) = json.loads(out.getvalue())
    return len(json.dumps(workflow, separators=(",", ":")))


def run() -> None:
    plain = size("jobs:\n" + "".join(f"  j{i}:\n{JOB}" for i in range(JOBS)))
    top = "checkout: {depth: 0, tags: true}\njobs:\n"
    shared = size(top + "".join(f"  j{i}:\n{JOB}" for i in range(JOBS)))
    own = size(
        "jobs:\n"
        + "".join(f"  j{i}:\n{JOB}    checkout: {{depth: {i % 7}}}\n" for i in range(JOBS))
    )
    print(f"{JOBS} plain jobs, Workflow bytes (compact JSON)")
    print(f"  no checkout key:                   {plain:>7,}")
    print(f"  top-level checkout (all alike):    {shared:>7,}  (+{shared - plain:,} once)")
    print(
        f"  each job its own checkout:         {own:>7,}  (+{(own - shared) / JOBS:.0f} bytes/job)"
    )


if __name__ == "__main__":
    run()
