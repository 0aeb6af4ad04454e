"""What artifacts cost: Workflow bytes per job, and moving 100 MiB between two local jobs.

    .venv/bin/python bench/artifacts.py [--quick]

* Workflow bytes per job: a chain of N jobs (each needs the one before) translated through
  `knargo.translation.plan` for a push, as compact JSON: (size at 101 jobs - size at 1 job) /
  100, plain, with `artifacts: {paths: [dist/]}` on every job (so every job also receives
  the previous one's), and on every other job.
* Local transfer of a 100 MiB directory (100 files of 1 MiB) from one job to the next, as
  `knargo run` does it: the producer's rendered command keeps `dist/` (script `true`), the
  local store saves it, restores it for the consumer, and the consumer's rendered command
  copies it into its checkout (script `true`). Against `tar c | tar x` of the same directory.
  Medians of interleaved runs; the goal is at most 1.5 times the tar pipe.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sample import PUSH

from knargo.config.settings import Settings
from knargo.language.lint import check
from knargo.local.files import Store
from knargo.translation.plan import plan
from knargo.translation.templates import with_defaults

GOAL_TRANSFER = 1.5
MIB = 2**20


def _pipeline(jobs: int, artifacts: bool, every: int = 1) -> str:
    lines = ["jobs:"]
    for i in range(jobs):
        lines += [f"  job{i}:", "    image: alpine", "    run: make"]
        if i:
            lines.append(f"    needs: job{i - 1}")
        if artifacts and i % every == 0:
            lines.append("    artifacts: {paths: [dist/]}")
    return "\n".join(lines) + "\n"


def _workflow(text: str) -> dict[str, Any]:
    checked = check(text)
    assert checked.config is not None, checked.diagnostics
    workflow = plan(checked.config, PUSH, Settings.embedded()).workflow
    assert workflow is not None
    return dict(workflow)


def _size(jobs: int, artifacts: bool, every: int = 1) -> int:
    workflow = _workflow(_pipeline(jobs, artifacts, every))
    return len(json.dumps(workflow, separators=(",", ":")))


def bytes_per_job() -> tuple[float, float, float]:
    plain = (_size(101, False) - _size(1, False)) / 100
    kept = (_size(101, True) - _size(1, True)) / 100
    half = (_size(101, True, 2) - _size(1, True, 2)) / 100
    return plain, kept, half


def _run_command(template: dict[str, Any], pod: Path) -> None:
    home, workspace = pod / "knargo", pod / "workspace"
    (home / "script").write_text("true\n")
    env = {
        "PATH": os.environ["PATH"],
        **{e["name"]: e["value"] for e in template["container"]["env"] if "value" in e},
        "KNARGO_HOME": str(home),
    }
    subprocess.run(
        template["container"]["command"],
        env=env,
        cwd=workspace,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _pod(root: Path, name: str) -> Path:
    pod = root / name
    (pod / "workspace").mkdir(parents=True)
    (pod / "knargo").mkdir()
    return pod


def _fill(directory: Path) -> None:
    directory.mkdir(parents=True)
    block = os.urandom(MIB)
    for i in range(100):
        (directory / f"part-{i:03}.bin").write_bytes(block[i:] + block[:i])


def transfer_once(root: Path) -> float:
    """Seconds to move dist/ from a producer's checkout into a consumer's, as knargo run does."""
    workflow = _workflow(_pipeline(2, True).removesuffix("    artifacts: {paths: [dist/]}\n"))
    spec = workflow["spec"]
    templates = {t["name"]: with_defaults(spec["templateDefaults"], t) for t in spec["templates"]}
    tasks = {t["name"]: t for t in templates["pipeline"]["dag"]["tasks"]}
    store = Store(root / "store")
    producer, consumer = _pod(root, "producer"), _pod(root, "consumer")
    _fill(producer / "workspace" / "dist")
    started = time.perf_counter()
    _run_command(templates["job0"], producer)
    store.save(templates["job0"], "bench", producer)
    store.restore(templates["job1"], tasks["job1"], templates, "bench", consumer, copy=False)
    _run_command(templates["job1"], consumer)
    elapsed = time.perf_counter() - started
    assert (consumer / "workspace" / "dist" / "part-099.bin").stat().st_size == MIB
    return elapsed


def tar_once(root: Path) -> float:
    source, target = root / "tar-source", root / "tar-target"
    _fill(source / "dist")
    target.mkdir()
    started = time.perf_counter()
    subprocess.run(f"tar cf - -C '{source}' dist | tar xf - -C '{target}'", shell=True, check=True)
    elapsed = time.perf_counter() - started
    assert (target / "dist" / "part-099.bin").stat().st_size == MIB
    return elapsed


def transfer(repeat: int) -> tuple[float, float]:
    ours, tars = [], []
    for _ in range(repeat):
        for measure, found in ((transfer_once, ours), (tar_once, tars)):
            root = Path(tempfile.mkdtemp(prefix="knargo-bench-"))
            try:
                found.append(measure(root))
            finally:
                shutil.rmtree(root, ignore_errors=True)
    return statistics.median(ours), statistics.median(tars)


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    plain, kept, half = bytes_per_job()
    print(f"Workflow bytes per job, plain jobs:                     {plain:5.0f}")
    print(f"Workflow bytes per job, each keeps and receives files:  {kept:5.0f}")
    print(f"Workflow bytes per job, every other job keeps files:    {half:5.0f}")
    ours, tar = transfer(3 if quick else 7)
    ratio = ours / tar
    verdict = "ok" if ratio <= GOAL_TRANSFER else "MISS"
    print(f"local transfer of 100 MiB, build -> next job:  {ours * 1000:8.0f} ms")
    print(f"tar c | tar x of the same directory:          {tar * 1000:8.0f} ms")
    print(f"ratio {ratio:.2f}x (goal <= {GOAL_TRANSFER}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
