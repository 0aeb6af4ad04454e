"""GitHub App authentication against the forge fake, which verifies each JWT with the App's
public key and answers installation tokens as GitHub does (one hour, 401 once refused)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from forgefake import ForgeFake, running_forges
from knargo.config.credentials import Credentials, Secret, load_credentials
from knargo.config.settings import Forge, Settings
from knargo.contract.errors import NotFound, StartupError, Unauthorized
from knargo.contract.events import GitEvent
from knargo.functions.status import State, Update
from knargo.io.apptokens import AppTokens
from knargo.io.network import ForgeClient, StatusClient

SHA = "c" * 40
APP_ID = 4242


def _key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


PRIVATE, PUBLIC = _key()


class Clock:
    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


OPEN: list[StatusClient] = []


def _statuses(fake: ForgeFake, key: bytes = PRIVATE) -> StatusClient:
    client = StatusClient(_settings(fake), Credentials(app_keys={"ghe": Secret(key)}))
    OPEN.append(client)
    return client


@pytest.fixture
def fake() -> Iterator[ForgeFake]:
    with running_forges() as forge:
        forge.enable_app(APP_ID, PUBLIC, lifetime=3600)
        forge.install("acme/api", 11)
        forge.install("other/web", 22)
        forge.add_commit("github", "acme/api", SHA)
        forge.add_commit("github", "other/web", SHA)
        yield forge
        while OPEN:
            OPEN.pop().close()
        assert forge.violations == []


def _settings(fake: ForgeFake) -> Settings:
    # The fake serves GitHub under a path of its own, as GitHub Enterprise Server does under
    # https://<host>/api/v3: every App call goes to the configured api_url.
    forge = Forge(
        name="ghe",
        kind="github",
        api_url=fake.api_url("github"),
        web_url="https://github.example.com",
        app_id=APP_ID,
    )
    return Settings(namespace="ci", forges=[forge])


def _event(repository: str, installation: int | None) -> GitEvent:
    url = f"https://github.example.com/{repository}"
    return GitEvent(
        forge_kind="github",
        forge_name="ghe",
        repository=repository,
        repository_url=url,
        clone_url=url + ".git",
        default_branch="main",
        kind="push",
        ref="refs/heads/main",
        sha=SHA,
        delivery_id="d-1",
        installation_id=installation,
    )


def _client(clock: Clock) -> ForgeClient:
    client = ForgeClient()
    client.apps = AppTokens(lambda request, kind: client.send(request, kind=kind).json(), clock)
    return client


UPDATE = Update("knargo", State.QUEUED, "queued")


def test_tokens_per_installation_are_cached_until_shortly_before_expiry(fake: ForgeFake) -> None:
    clock = Clock()
    statuses = _statuses(fake)
    statuses.client.close()
    statuses.client = _client(clock)
    for _ in range(3):
        statuses.post(_event("acme/api", 11), SHA, UPDATE)
        statuses.post(_event("other/web", 22), SHA, UPDATE)
    assert fake.app_tokens_made() == [11, 22]  # one token per installation, reused
    clock.ahead = 3600 - 299  # less than five minutes left: made again before it expires
    statuses.post(_event("acme/api", 11), SHA, UPDATE)
    assert fake.app_tokens_made() == [11, 22, 11]
    auth = [r.headers["authorization"] for r in fake.requests if "/check-runs" in r.path]
    assert len(set(auth)) == 3
    assert all(a.startswith("Bearer ghs_") for a in auth)


def test_a_refused_token_is_made_again_once(fake: ForgeFake) -> None:
    statuses = _statuses(fake)
    statuses.post(_event("acme/api", 11), SHA, UPDATE)
    fake.revoke_app_tokens()
    statuses.post(_event("acme/api", 11), SHA, UPDATE)
    assert fake.app_tokens_made() == [11, 11]
    codes = [r.status for r in fake.requests if "/check-runs" in r.path]
    assert codes == [201, 401, 200]  # created, then updated: refused once, then made again
    assert len(fake.statuses("github", "acme/api", SHA)) == 2


def test_the_installation_is_looked_up_once_when_the_event_has_none(fake: ForgeFake) -> None:
    statuses = _statuses(fake)
    for _ in range(2):
        statuses.post(_event("other/web", None), SHA, UPDATE)
    lookups = [r for r in fake.requests if r.path.endswith("/installation")]
    assert [r.path for r in lookups] == ["/repos/other/web/installation"]
    assert fake.app_tokens_made() == [22]


def test_a_jwt_of_another_key_is_refused_and_names_no_secret(fake: ForgeFake) -> None:
    other, _ = _key()
    statuses = _statuses(fake, other)
    with pytest.raises(Unauthorized) as raised:
        statuses.post(_event("acme/api", 11), SHA, UPDATE)
    assert raised.value.status == 401
    assert "eyJ" not in str(raised.value) and "ghs_" not in str(raised.value)
    assert fake.violations and "JWT refused" in fake.violations[0]
    fake.violations.clear()  # the fake did reject what GitHub rejects


def test_token_values_never_reach_an_error(fake: ForgeFake) -> None:
    statuses = _statuses(fake)
    statuses.post(_event("acme/api", 11), SHA, UPDATE)
    fake.add_commit("github", "acme/elsewhere", SHA)  # the App is not installed there
    with pytest.raises(NotFound) as raised:
        statuses.post(_event("acme/elsewhere", None), SHA, UPDATE)
    assert "ghs_" not in str(raised.value) and "eyJ" not in str(raised.value)


def test_an_app_forge_needs_its_key_not_a_token(tmp_path: object, fake: ForgeFake) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    settings = _settings(fake)
    with pytest.raises(StartupError, match=r"ghe\.app-key: missing"):
        load_credentials(root, settings, tokens=True)
    (root / "ghe.app-key").write_bytes(PRIVATE)
    loaded = load_credentials(root, settings, tokens=True)
    assert loaded.app_keys["ghe"].reveal() == PRIVATE.rstrip(b"\n")
    assert "PRIVATE" not in repr(loaded)


def test_app_id_belongs_to_github_only() -> None:
    with pytest.raises(ValueError, match="only a forge of kind github"):
        Forge(name="gl", kind="gitlab", api_url="https://x", web_url="https://x", app_id=1)


def test_a_delivery_of_the_app_carries_its_installation() -> None:
    import json

    from knargo.config.settings import PUBLIC_FORGES
    from knargo.forges.github import WEBHOOKS
    from reference import reference_path

    path = reference_path("fixtures", "github", "payloads", "pull_request", "opened.payload.json")
    payload = json.loads(path.read_text())
    parsed = WEBHOOKS.parse({"x-github-event": "pull_request"}, payload, PUBLIC_FORGES[0], "d")
    assert isinstance(parsed, GitEvent)
    assert parsed.installation_id == payload["installation"]["id"]
    del payload["installation"]
    parsed = WEBHOOKS.parse({"x-github-event": "pull_request"}, payload, PUBLIC_FORGES[0], "d")
    assert isinstance(parsed, GitEvent) and parsed.installation_id is None


def test_knargo_dev_posts_as_the_app_with_its_key(tmp_path: object, fake: ForgeFake) -> None:
    from pathlib import Path

    from knargo.local.server import dev_credentials, forge_statuses

    root = Path(str(tmp_path))
    (root / "ghe.app-key").write_bytes(PRIVATE)
    settings = _settings(fake)
    credentials = dev_credentials(settings, b"dev-secret", str(root))
    statuses = forge_statuses(settings, credentials)
    assert isinstance(statuses, StatusClient)
    OPEN.append(statuses)
    statuses.post(_event("acme/api", None), SHA, UPDATE)  # a local event: no installation
    assert [r["name"] for r in fake.check_runs("acme/api", SHA)] == ["knargo"]
    assert fake.app_tokens_made() == [11]


def test_a_repository_the_app_cannot_read_names_the_installation(fake: ForgeFake) -> None:
    from knargo.contract import events
    from knargo.functions.generate import generate
    from knargo.io.network import ForgeReader

    fake.add_repo("github", "acme/secret", private=True)  # not in installation 11
    reader = ForgeReader(_settings(fake), Credentials(app_keys={"ghe": Secret(PRIVATE)}))
    try:
        event = _event("acme/secret", 11)
        reply = generate(event, _settings(fake), None, reader, None)  # type: ignore[arg-type]
    finally:
        reader.close()
    assert reply.type == events.PIPELINE_REJECTED
    summary = reply.data.summary  # type: ignore[union-attr]
    assert "GitHub App's installation on acme/secret" in summary and ".token" not in summary
