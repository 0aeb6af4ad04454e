"""Configuration, credentials and catalog mounted the way kubelet mounts them, changed while
the functions run: a valid change takes effect within a second, an invalid one is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from deliveries import FORGES, secret, signed
from knargo.config.reload import Reloading
from knargo.config.startup import load_config
from knargo.contract.errors import StartupError
from knargo.observability import metrics
from kubelet import Mounted
from reference import reference_path
from sink import Sink, running_sink

ROOT = Path(__file__).resolve().parent.parent
BODY = reference_path("fixtures", "github", "payloads", "drone-go-scm", "push.json").read_bytes()


def _config(forges: dict[str, tuple[str, str]]) -> bytes:
    return json.dumps(
        {
            "forges": [
                {"name": n, "kind": k, "api_url": f"https://{h}/api", "web_url": f"https://{h}"}
                for n, (k, h) in forges.items()
            ]
        }
    ).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_swap_of_data_takes_effect_after_the_interval(tmp_path: Path) -> None:
    mounted = Mounted(tmp_path / "config", {"config.yaml": _config(FORGES)})
    environ = {"KNARGO_CONFIG": str(mounted.path("config.yaml"))}
    clock = Clock()
    settings = Reloading(lambda: load_config(environ), [mounted.path("config.yaml")], clock=clock)
    assert len(settings.current().forges) == len(FORGES)
    mounted.write({"config.yaml": _config({"github": FORGES["github"]})})
    clock.now += 0.5
    assert len(settings.current().forges) == len(FORGES)  # looked at most once a second
    clock.now += 0.6
    assert [f.name for f in settings.current().forges] == ["github"]
    assert settings.problem is None


def test_an_invalid_change_keeps_the_last_good_one_and_is_reported_once(tmp_path: Path) -> None:
    mounted = Mounted(tmp_path / "config", {"config.yaml": _config(FORGES)})
    environ = {"KNARGO_CONFIG": str(mounted.path("config.yaml"))}
    reported: list[tuple[str, str]] = []
    clock = Clock()
    settings = Reloading(
        lambda: load_config(environ),
        [mounted.path("config.yaml")],
        lambda file, message: reported.append((file, message)),
        clock=clock,
    )
    mounted.write({"config.yaml": b"forges:\n  - name: github\n    kind: svn\n"})
    for _ in range(3):
        clock.now += 1.5
        assert len(settings.current().forges) == len(FORGES)
    assert len(reported) == 1
    file, message = reported[0]
    assert file == str(mounted.path("config.yaml"))
    assert "config.yaml:3:" in message and "kind" in message
    assert settings.problem == message
    mounted.write({"config.yaml": _config({"gitea": FORGES["gitea"]})})
    clock.now += 1.5
    assert [f.name for f in settings.current().forges] == ["gitea"]
    assert settings.problem is None


def test_the_value_at_start_up_must_be_valid(tmp_path: Path) -> None:
    mounted = Mounted(tmp_path / "config", {"config.yaml": b"forges: 3\n"})
    environ = {"KNARGO_CONFIG": str(mounted.path("config.yaml"))}
    with pytest.raises(StartupError, match=r"config\.yaml"):
        Reloading(lambda: load_config(environ), [mounted.path("config.yaml")])


@pytest.fixture
def webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Sink, Any]]:
    config = Mounted(tmp_path / "config", {"config.yaml": _config(FORGES)})
    credentials = Mounted(
        tmp_path / "credentials", {f"{n}.webhook-secret": secret(n) + b"\n" for n in FORGES}
    )
    with running_sink() as sink:
        monkeypatch.setenv("KNARGO_CONFIG", str(config.path("config.yaml")))
        monkeypatch.setenv("KNARGO_CREDENTIALS_DIR", str(credentials.root))
        monkeypatch.setenv("KNARGO_METRICS_PORT", "0")
        monkeypatch.setenv("K_SINK", sink.url)
        app = create_app("handle", str(ROOT / "functions" / "webhook" / "main.py"))
        import main  # the function module functions-framework loaded

        yield app.test_client(), sink, (main, config, credentials)
        main.PUBLISHER.close()


def _deliver(client: Any, headers: dict[str, str]) -> int:
    return int(client.post("/", data=BODY, headers=headers).status_code)


def _signed_with(key: bytes) -> dict[str, str]:
    headers = signed("github", "github", "push", BODY)
    digest = hmac.new(key, BODY, hashlib.sha256).hexdigest()
    return headers | {"X-Hub-Signature-256": f"sha256={digest}"}


def test_a_secret_rotation_takes_effect_while_deliveries_are_in_flight(
    webhook: tuple[Any, Sink, Any],
) -> None:
    client, _sink, (main, _config_dir, credentials) = webhook
    old, new = secret("github"), b"rotated-secret"
    others = {f"{n}.webhook-secret": secret(n) for n in FORGES if n != "github"}
    answers: list[int] = []
    stop = threading.Event()

    def deliver_with_the_old_secret() -> None:
        while not stop.is_set():
            answers.append(_deliver(client, _signed_with(old)))

    senders = [threading.Thread(target=deliver_with_the_old_secret) for _ in range(4)]
    for thread in senders:
        thread.start()
    # the rotation: the new secret is current, the old one stays accepted as `.previous`
    credentials.write(
        others | {"github.webhook-secret": new, "github.webhook-secret.previous": old}
    )
    main.RUNTIME._checked -= 1.0  # the next request looks at the files
    _wait_until(lambda: _deliver(client, _signed_with(new)) == 202)
    for _ in range(3):  # swapped again and again under load: never a refused delivery
        credentials.write(
            others | {"github.webhook-secret": new, "github.webhook-secret.previous": old}
        )
    stop.set()
    for thread in senders:
        thread.join()
    assert answers and set(answers) == {202}
    credentials.write(others | {"github.webhook-secret": new})  # rotation over
    main.RUNTIME._checked -= 1.0
    _wait_until(lambda: _deliver(client, _signed_with(old)) == 401)
    assert _deliver(client, _signed_with(new)) == 202
    assert main.RUNTIME.problem is None


def test_an_invalid_change_is_counted_and_reported_by_healthz(
    webhook: tuple[Any, Sink, Any],
) -> None:
    client, _sink, (main, config, _credentials) = webhook
    config.write({"config.yaml": b"forges:\n  - name: github\n    kind: svn\n"})
    main.RUNTIME._checked -= 1.0
    for _ in range(3):
        assert _deliver(client, _signed_with(secret("github"))) == 202  # the last good one
    path = str(config.path("config.yaml"))
    assert main.METRICS.config_refused.value(function="webhook", file=path) == 1
    server = metrics.serve(main.METRICS, 0, "127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
        with urllib.request.urlopen(url, timeout=5) as answer:
            health = json.load(answer)
    finally:
        server.shutdown()
        server.server_close()
    assert health["status"] == "degraded"
    assert "config.yaml:3:" in health["problems"]["configuration"]
    config.write({"config.yaml": _config(FORGES)})
    main.RUNTIME._checked -= 1.0
    assert _deliver(client, _signed_with(secret("github"))) == 202
    assert main.METRICS.healthz() == {"status": "ok"}


def _wait_until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the change did not take effect")
