"""Benchmark of the ci.yaml parser against hostile and large inputs.

Run from the repository root:

    .venv/bin/python bench/parser.py          # every case, 5 runs each
    .venv/bin/python bench/parser.py --json   # one JSON document instead of a table

Anyone who can push reaches `knargo.formats.positions.load` through the generate function, so
every input of at most 1 MiB must be parsed or refused quickly. Each case runs in its own
Python process: the median wall time (and CPU time) of `positions.load` over the runs, the
growth of the process's peak resident memory during the first run (ru_maxrss after minus
before), and, as the floor no parser in Python goes under, the time libyaml alone takes to
produce the document's events.

Cases: the classic "billion laughs" (9 levels of 10 aliases), alias bombs of 6 and 7 levels
inside a job's `needs:`, 1 MiB made of aliases of one small anchor, 1 MiB of one flow list of
short values (the most values per byte: refused for its count of values), and the largest
legitimate file: a generated pipeline of just under 1 MiB (the generator of
`bench/translate.py`). `lint.check` of the legitimate pipeline is printed for reference.

Goal: every case parsed or refused within 0.2 s and 64 MB of extra memory. The script only
reports; it exits non-zero only when a bomb is not refused or a legitimate file is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
GOAL_S = 0.2
GOAL_MB = 64.0


def laughs(levels: int) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def needs_bomb(levels: int) -> str:
    items = [f"&n0 [{', '.join(['build'] * 10)}]"]
    items += [f"&n{i} [{', '.join([f'*n{i - 1}'] * 10)}]" for i in range(1, levels)]
    return (
        "on: push\njobs:\n  build:\n    image: alpine\n    run: make\n"
        f"  deploy:\n    image: alpine\n    run: make deploy\n    needs: [{', '.join(items)}]\n"
    )


def many_aliases() -> str:
    head = "x: &a {image: alpine, run: make}\njobs:\n"
    line = "  - *a\n"
    return head + line * ((MIB - len(head)) // len(line))


def dense_list() -> str:
    head = "on: push\nx: ["
    return head + "ab, " * ((MIB - len(head) - 2) // 4) + "ab]\n"


def pipeline() -> str:
    """The largest generated pipeline that stays within 1 MiB."""
    sys.path.insert(0, str(ROOT / "bench"))
    from translate import generate_ci_yaml

    low, high = 100, 4000
    while low < high:
        middle = (low + high + 1) // 2
        if len(generate_ci_yaml(middle).encode()) <= MIB:
            low = middle
        else:
            high = middle - 1
    return generate_ci_yaml(low)


CASES = {
    "billion laughs (9 levels)": (laughs, (9,), "refused"),
    "needs: alias bomb, 6 levels": (needs_bomb, (6,), "refused"),
    "needs: alias bomb, 7 levels": (needs_bomb, (7,), "refused"),
    "1 MiB of aliases": (many_aliases, (), "refused"),
    "pipeline just under 1 MiB": (pipeline, (), "parsed"),
    "1 MiB flow list of short values": (dense_list, (), "refused"),
}


def measure(name: str, runs: int) -> dict[str, object]:
    """Runs in a child process: one case, timed and measured."""
    from knargo.formats import positions
    from knargo.language.lint import check

    make, make_args, _ = CASES[name]
    text = make(*make_args)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        doc, problems = positions.load(text, "ci.yaml")
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if len(times) == 1:
            extra_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        del doc
    start = time.perf_counter()
    for _ in iter(positions._Loader(text).get_event, None):
        pass
    events_s = time.perf_counter() - start
    result: dict[str, object] = {
        "case": name,
        "bytes": len(text.encode()),
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu),
        "libyaml_events_seconds": events_s,
        "extra_mb": extra_kb / 1024,
        "outcome": "refused" if any(p.severity == "error" for p in problems) else "parsed",
        "first_problem": str(problems[0]) if problems else "",
    }
    if name.startswith("pipeline"):
        start = time.perf_counter()
        checked = check(text)
        result["lint_check_seconds"] = time.perf_counter() - start
        result["lint_problems"] = len(checked.diagnostics)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # the child process's case
    args = parser.parse_args()
    if args.case:
        print(json.dumps(measure(args.case, args.runs)))
        return 0
    results = []
    for name in CASES:
        child = subprocess.run(
            [sys.executable, __file__, "--case", name, "--runs", str(args.runs)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(child.stdout))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)
    wrong = [r for r in results if r["outcome"] != CASES[str(r["case"])][2]]
    return 1 if wrong else 0


def report(results: list[dict[str, object]]) -> None:
    print(
        f"{'case':34} {'bytes':>9} {'seconds':>8} {'cpu s':>6} {'libyaml':>7} {'extra MB':>9}"
        "  outcome  goal"
    )
    for r in results:
        seconds, extra = float(str(r["seconds"])), float(str(r["extra_mb"]))
        cpu, floor = float(str(r["cpu_seconds"])), float(str(r["libyaml_events_seconds"]))
        goal = "PASS" if seconds <= GOAL_S and extra <= GOAL_MB else "MISS"
        expected = CASES[str(r["case"])][2]
        outcome = str(r["outcome"]) + ("" if r["outcome"] == expected else " (WRONG)")
        print(
            f"{r['case']:34} {r['bytes']:>9} {seconds:>8.3f} {cpu:>6.3f} {floor:>7.3f}"
            f" {extra:>9.1f}  {outcome:8} {goal}"
        )
        if r["first_problem"]:
            print(f"    {r['first_problem']}")
        if "lint_check_seconds" in r:
            check_s = float(str(r["lint_check_seconds"]))
            print(f"    lint.check of the same file: {check_s:.3f} s")
    print(f"goal: parsed or refused within {GOAL_S} s and {GOAL_MB:.0f} MB of extra memory")
    print(f"load average when done: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
