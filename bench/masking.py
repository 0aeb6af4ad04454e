"""What masking a job's secrets costs its log, in time.

    .venv/bin/python bench/masking.py

A script that writes a 10 MiB log (an awk over a file of 131,072 lines of 80 bytes: odd
lines on stdout, even ones on stderr, a secret value in every 16th line) runs under `sh` with
the job's command as the pod runs it: without secrets (the command of old, `exec sh -e
script`), then with secrets through the masking filter, with 1 value, and with 11 values (10
of one line and a 42-line PEM key: 52 masked pieces). Each runs 3 times; prints the best wall
time, the throughput, the time the filter adds, and the bytes the masked command adds to a
job's template. The awk is the machine's (`awk -W version` names it).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from knargo.translation import jobpod

LINES = 131_072
WIDTH = 80
RUNS = 3
TOKEN = "ghp_" + "x7Kq2" * 8


def log_file(path: Path) -> None:
    with path.open("w") as out:
        for i in range(LINES):
            text = (f"log line {i:08d} " + "." * WIDTH)[: WIDTH - 1]
            if i % 16 == 0:
                text = text[: WIDTH - 1 - len(TOKEN) - 1] + " " + TOKEN
            out.write(text + "\n")


def secrets(count: int) -> dict[str, str]:
    values = {"TOKEN": TOKEN}
    for i in range(1, count):
        values[f"SECRET_{i}"] = f"value-{i}-" + "q" * 24
    if count > 1:
        key = "\n".join(f"{i:02d}" + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"[:30] for i in range(40))
        values["KEY"] = f"-----BEGIN KEY-----\n{key}\n-----END KEY-----\n"
    return values


def best(command: list[str], home: Path, env: dict[str, str]) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(RUNS):
        start = time.perf_counter()
        ran = subprocess.run(command, env=env, cwd=home, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
        size = len(ran.stdout) + len(ran.stderr)
        masked = TOKEN.encode() not in ran.stdout + ran.stderr
        assert masked == (jobpod.MASKED in env)
    return min(times), size


def run() -> None:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        log_file(home / "log")
        mb = (home / "log").stat().st_size / 2**20
        # Odd lines on stdout, even ones on stderr.
        (home / "script").write_text(
            'awk \'NR % 2 { print; next } { print > "/dev/stderr" }\' "$KNARGO_HOME/log"\n'
        )
        base = {"PATH": os.environ["PATH"], "KNARGO_HOME": str(home)}
        awk = subprocess.run(
            ["sh", "-c", "awk -W version 2>&1 </dev/null | head -1"], capture_output=True, text=True
        ).stdout.strip()
        print(f"log: {mb:.1f} MiB, {LINES} lines; awk: {awk or 'unknown'}")
        plain, _ = best(jobpod.main_command("sh"), home, base)
        print(f"no secrets (exec sh -e script): {plain:.3f} s, {mb / plain:.0f} MiB/s")
        for count in (1, 10):
            values = secrets(count)
            env = base | values | {jobpod.MASKED: " ".join(values)}
            took, size = best(jobpod.main_command("sh", masked=True), home, env)
            print(
                f"{len(values)} secret values masked: {took:.3f} s, {mb / took:.0f} MiB/s, "
                f"+{took - plain:.3f} s for the log ({size / 2**20:.1f} MiB out)"
            )
        extra = len(jobpod.main_command("sh", True)[2]) - len(jobpod.main_command("sh")[2])
        print(f"the masked command adds {extra} bytes to a job's template")


if __name__ == "__main__":
    run()
