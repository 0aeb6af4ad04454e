"""generate and report as real processes: start-up against a trivial function.

    .venv/bin/python bench/functions.py [--quick] [--json]

Knative scales generate and report to zero, so their start-up is on the path of the first
status after a quiet period. Each runs as in production (`functions-framework --source
functions/<name>/main.py --target handle`, WORKERS=1, THREADS=8, on 127.0.0.1, only the
modules of the packages its image installs importable) with one
GitHub forge, its token, a secret catalog (generate) and a pod's service account (start-up
only reads it; `harness.production`). Measured: spawn to the first answer to a POST (polled every
2 ms; the body is not an event, so the answer is 400 after the whole request path ran),
interleaved with a trivial function (`request.get_data(); return "ok"`); medians. Also the
CPU time the server (gunicorn's master and worker) used until then, which a loaded machine
hardly changes.
"""

from __future__ import annotations

from pathlib import Path

from harness import (
    CONFIG,
    TRIVIAL,
    Function,
    main,
    production,
    runs,
    starts,
    workdir,
)

GOALS = {"generate": 2.0, "report": 2.0}


def files(root: Path, env: dict[str, str]) -> dict[str, Function]:
    (root / "config.yaml").write_text(CONFIG)
    (root / "credentials").mkdir(exist_ok=True)
    (root / "credentials" / "github.token").write_text("bench-token")
    (root / "catalog.yaml").write_text("scopes: {}\n")
    (root / "trivial.py").write_text(TRIVIAL)
    images = {name: {**env, **production(name, root)} for name in GOALS}
    knargo = {
        "KNARGO_CONFIG": str(root / "config.yaml"),
        "KNARGO_CREDENTIALS_DIR": str(root / "credentials"),
        "KNARGO_SECRET_CATALOG": str(root / "catalog.yaml"),
    }
    return {
        "generate": Function("functions/generate/main.py", {**images["generate"], **knargo}),
        "report": Function("functions/report/main.py", {**images["report"], **knargo}),
        "trivial": Function(str(root / "trivial.py"), images["report"]),
    }


def measure(
    mode: str, env: dict[str, str], quick: bool
) -> list[tuple[str, float, float, bool, str]]:
    request = ("POST", b"{}", {"Content-Type": "application/json"})
    with workdir() as root:
        fns = files(root, env)
        walls, cpus = starts(fns, dict.fromkeys(fns, request), runs(quick, 9))
    rows: list[tuple[str, float, float, bool, str]] = []
    for name, goal in GOALS.items():
        wall, cpu = walls[name] / walls["trivial"], cpus[name] / cpus["trivial"]
        rows.append((f"{name} start vs trivial function", wall, goal, False, "x"))
        rows.append((f"  {name} start, server CPU time vs trivial", cpu, goal, False, "x"))
    return rows


MEASURES = [measure]

if __name__ == "__main__":
    main(MEASURES, __doc__ or "")
