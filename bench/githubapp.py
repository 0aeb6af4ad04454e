"""What a GitHub App costs report and generate: signing its JWT, and a cached token.

    .venv/bin/python bench/githubapp.py

Prints medians in milliseconds: the first JWT of a process (imports PyJWT, loads the key,
signs), each later JWT (one per new installation token: once an hour per installation), and
taking a cached installation token (every forge request). The send is answered in memory, so
the figures are knargo's own work, not the network's. A function whose forges have no
`app_id` imports none of this (`import knargo.io.network` leaves `jwt` and `cryptography`
unimported, printed last).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

CHILD = """
import time
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
from knargo.config.credentials import Secret
from knargo.config.settings import Forge
from knargo.forges.githubapp import app_jwt
from knargo.io.apptokens import AppTokens
started = time.perf_counter(); app_jwt(1, key, time.time()); first = time.perf_counter() - started
later = []
for _ in range(20):
    started = time.perf_counter()
    app_jwt(1, key, time.time())
    later.append(time.perf_counter() - started)
answer = {"token": "ghs_x", "expires_at": "2999-01-01T00:00:00Z"}
tokens = AppTokens(lambda request, kind: answer)
forge = Forge(name="g", kind="github", api_url="https://x", web_url="https://x", app_id=1)
tokens.token(forge, Secret(key), "a/b", 7)
cached = []
for _ in range(2000):
    started = time.perf_counter()
    tokens.token(forge, Secret(key), "a/b", 7)
    cached.append(time.perf_counter() - started)
import statistics
print(first, statistics.median(later), statistics.median(cached))
"""


def main() -> None:
    runs = [
        [float(x) for x in subprocess.check_output([sys.executable, "-c", CHILD]).split()]
        for _ in range(5)
    ]
    first, later, cached = (statistics.median(column) * 1000 for column in zip(*runs, strict=True))
    print(f"first JWT of a process (import PyJWT, load the key, sign): {first:.1f} ms")
    print(f"each later JWT (a new installation token):                 {later:.1f} ms")
    print(f"a cached installation token (every forge request):         {cached:.4f} ms")
    check = (
        "import sys, knargo.io.network; print('jwt' in sys.modules, 'cryptography' in sys.modules)"
    )
    imported = subprocess.check_output([sys.executable, "-c", check], text=True).split()
    print(f"import knargo.io.network imports jwt: {imported[0]}, cryptography: {imported[1]}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.1f} s)")
