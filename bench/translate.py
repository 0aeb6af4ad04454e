"""The command line's start-up and the size of the Workflows it renders.

    .venv/bin/python bench/translate.py [--quick] [--json]

* `knargo render examples/ci.yaml`: wall time against `python -c "import yaml, pydantic"`,
  run interleaved as subprocesses (medians), with bytecode cached and without. Interleaved
  with them, the floor of any command that validates with pydantic models: a script that
  imports yaml and defines and validates one pydantic model (`import pydantic` is lazy and
  loads none of pydantic's model machinery, which that first model does).
* Workflow bytes per job: a pipeline of plain jobs (`image`, `run`) translated through
  `knargo.translation.plan` for a push, as compact JSON (what the Kubernetes API stores and
  `plan` holds to its 1 MiB limit): (size at 101 jobs - size at 1 job) / 100, and what
  1,000 such jobs would take (`plan` refuses them: Argo's CRD allows 200 templates and 200
  tasks in a DAG).
"""

from __future__ import annotations

import json
import sys

from harness import BIN, command_time, interleaved, main, runs
from sample import PUSH

from knargo.config.settings import Settings
from knargo.language.lint import check
from knargo.translation.plan import plan

GOAL_RENDER = 1.5
GOAL_BYTES_PER_JOB = 1000.0
FLOOR = """\
import yaml
from pydantic import BaseModel

class Job(BaseModel):
    image: str

Job.model_validate(yaml.safe_load("image: alpine"))
"""


def render(
    mode: str, env: dict[str, str], quick: bool
) -> list[tuple[str, float, float, bool, str]]:
    knargo = [str(BIN / "knargo"), "render", "examples/ci.yaml"]
    baseline = [sys.executable, "-c", "import yaml, pydantic"]
    floor = [sys.executable, "-c", FLOOR]
    cases = {
        "render": lambda: command_time(knargo, env),
        "baseline": lambda: command_time(baseline, env),
        "floor": lambda: command_time(floor, env),
    }
    medians = interleaved(cases, runs(quick, 15))
    return [
        (
            "knargo render examples/ci.yaml vs import yaml, pydantic",
            medians["render"] / medians["baseline"],
            GOAL_RENDER,
            False,
            "x",
        ),
        (
            "  floor: one pydantic model validated, vs import yaml, pydantic",
            medians["floor"] / medians["baseline"],
            GOAL_RENDER,
            False,
            "x",
        ),
    ]


def plain_pipeline(jobs: int) -> str:
    lines = ["on: [push]", "jobs:"]
    for index in range(jobs):
        lines += [f"  job-{index}:", "    image: alpine:3.20", "    run: make test"]
    return "\n".join(lines) + "\n"


def workflow_bytes(jobs: int) -> tuple[int, str | None]:
    settings = Settings.embedded()
    checked = check(plain_pipeline(jobs), "ci.yaml", settings=settings)
    assert checked.config is not None, [str(d) for d in checked.diagnostics]
    result = plan(checked.config, PUSH, settings)
    if result.workflow is None:
        return 0, result.rejected or result.skipped
    return len(json.dumps(result.workflow, separators=(",", ":"))), None


def size(mode: str, env: dict[str, str], quick: bool) -> list[tuple[str, float, float, bool, str]]:
    one, _ = workflow_bytes(1)
    hundred_one, _ = workflow_bytes(101)
    _, refused = workflow_bytes(1000)
    per_job = (hundred_one - one) / 100
    thousand = one + 999 * per_job
    name = f"Workflow bytes per job (a plain job); 1,000 jobs: {thousand / 1024:,.0f} KiB"
    if refused and "200 templates" in refused:
        name += ", refused for the CRD's 200 templates"
    elif refused:
        raise AssertionError(f"1,000 plain jobs refused for another reason: {refused}")
    return [(name, per_job, GOAL_BYTES_PER_JOB, False, "bytes")]


MEASURES = [render, size]

if __name__ == "__main__":
    main(MEASURES, __doc__ or "")
