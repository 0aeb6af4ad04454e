"""The pure core of the admin commands: names, values, the catalog, Secrets, quantities, forks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils.quantity import parse_quantity as client_parse_quantity

from knargo.config import admin
from knargo.config.admin import InvalidInput
from knargo.config.catalog import parse_catalog
from knargo.config.quantities import parse_quantity
from knargo.config.settings import _QUANTITY as SETTINGS_QUANTITY
from knargo.config.settings import Settings
from knargo.formats.naming import secret_object_name
from knargo.language import forkcheck

GITHUB = [{"name": "github", "kind": "github", "api_url": "x", "web_url": "https://github.com"}]


# --- quantities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("0", 0),
        ("500m", Fraction(1, 2)),
        ("1.5", Fraction(3, 2)),
        (".5", Fraction(1, 2)),
        ("1.", 1),
        ("+2", 2),
        ("-2", -2),
        ("100n", Fraction(1, 10**7)),
        ("5u", Fraction(5, 10**6)),
        ("0.1m", Fraction(1, 10**4)),
        ("2k", 2000),
        ("1M", 10**6),
        ("1G", 10**9),
        ("1T", 10**12),
        ("1P", 10**15),
        ("1E", 10**18),
        ("1Ki", 1024),
        ("1.5Gi", 3 * 2**29),
        ("1Ti", 2**40),
        ("1Ei", 2**60),
        ("2e3", 2000),
        ("1E3", 1000),
        ("1e-3", Fraction(1, 1000)),
        ("1.5e+2", 150),
    ],
)
def test_quantities_are_exact(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value
    assert SETTINGS_QUANTITY.match(text)  # the syntax the settings model accepts


@pytest.mark.parametrize(
    "text",
    ["", "Gi", "1gi", "1 Gi", "1KiB", "1K", "1e", "1e2.5", "1.5.5", "0x10", "1_000", "1e1001"],
)
def test_invalid_quantities_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"invalid resource quantity .* \(e\.g\. 500m, 2, 1Gi\)"):
        parse_quantity(text)


def test_quantities_compare_as_kubernetes_does() -> None:
    assert parse_quantity("1Gi") > parse_quantity("1G")
    assert parse_quantity("1000m") == parse_quantity("1")
    assert parse_quantity("1024Mi") == parse_quantity("1Gi")
    assert parse_quantity("1e9") == parse_quantity("1G")
    assert parse_quantity("0.1") + parse_quantity("0.2") == parse_quantity("300m")  # exact


@given(
    st.from_regex(r"\A[+-]?([0-9]{1,5}(\.[0-9]{0,3})?|\.[0-9]{1,3})\Z"),
    st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti"]),
)
def test_quantities_agree_with_the_kubernetes_client(number: str, suffix: str) -> None:
    assert parse_quantity(number + suffix) == Fraction(client_parse_quantity(number + suffix))


# --- names and values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("github.com/acme", "github.com/acme"),
        ("GitHub.com/Acme/API/", "github.com/acme/api"),
        ("gitlab.com/group/sub/repo", "gitlab.com/group/sub/repo"),
        ("localhost:3000/acme/api", "localhost:3000/acme/api"),
        ("code.example.com:8443/acme", "code.example.com:8443/acme"),
    ],
)
def test_scopes_are_normalised(text: str, scope: str) -> None:
    assert admin.parse_scope(text) == scope


@pytest.mark.parametrize(
    "text",
    [
        "acme/api",
        "github.com",
        "github.com//api",
        "github.com/a b",
        "github.com/../x",
        "",
        "https://github.com/acme",
    ],
)
def test_scopes_need_a_host_and_an_owner(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected HOST/OWNER or HOST/OWNER/REPOSITORY"):
        admin.parse_scope(text)


@pytest.mark.parametrize("name", ["npm_token", "1TOKEN", "NPM-TOKEN", "", "NPM TOKEN", "ÄPI"])
def test_secret_names_follow_environment_variable_rules(name: str) -> None:
    with pytest.raises(InvalidInput, match=r"environment-variable rules \(\[A-Z_\]\[A-Z0-9_\]\*"):
        admin.secret_name(name)
    assert admin.secret_name("_NPM_TOKEN2") == "_NPM_TOKEN2"


@pytest.mark.parametrize(
    ("raw", "value"),
    [(b"s3cr3t\n", b"s3cr3t"), (b"s3cr3t", b"s3cr3t"), (b"a\n\n", b"a\n"), (b"a\r\n", b"a")],
)
def test_one_trailing_newline_is_dropped(raw: bytes, value: bytes) -> None:
    assert admin.secret_value(raw) == value


@pytest.mark.parametrize("raw", [b"", b"\n", b"\r\n"])
def test_empty_values_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidInput, match="empty value refused"):
        admin.secret_value(raw)


def test_values_larger_than_a_secret_are_refused_without_showing_them() -> None:
    with pytest.raises(InvalidInput) as refused:
        admin.secret_value(b"Q" * (admin.MAX_VALUE_BYTES + 1))
    assert "QQ" not in str(refused.value)
    assert "1,048,577 bytes" in str(refused.value)


def test_the_configured_namespace() -> None:
    assert admin.configured_namespace("namespace: pipelines\nforges: []\n") == "pipelines"
    assert admin.configured_namespace("forges: []\n") == "ci"  # the settings' default
    assert admin.configured_namespace("") == "ci"
    assert admin.configured_namespace("namespace: [x\n") is None
    assert admin.configured_namespace("- a list\n") is None


# --- the catalog ----------------------------------------------------------------------------

SEGMENT = st.text(alphabet="abcxyzABC019._-", min_size=1, max_size=8)
SCOPE_TEXT = st.builds(
    lambda host, path: "/".join([host, *path]).lower(),
    st.sampled_from(["github.com", "gitlab.example.com", "localhost:3000", "code.example.com"]),
    st.lists(SEGMENT, min_size=1, max_size=3),
)
NAME_TEXT = st.text(alphabet="ABCXYZ_019", min_size=1, max_size=10).filter(
    lambda name: not name[0].isdigit()
) | st.sampled_from(["NULL", "TRUE", "FALSE", "Y", "N", "ON", "NO", "_", "E1", "INF", "NAN"])


@given(st.dictionaries(SCOPE_TEXT, st.frozensets(NAME_TEXT, min_size=1)))
def test_the_catalog_text_reads_back_as_written(scopes: dict[str, frozenset[str]]) -> None:
    text = admin.catalog_text(scopes)
    catalog, problems = parse_catalog(text, "catalog.yaml")
    assert problems == [] and catalog is not None
    assert dict(catalog.scopes) == scopes
    reordered = dict(reversed(list(scopes.items())))
    assert admin.catalog_text(reordered) == text  # deterministic


def test_the_catalog_text_is_sorted_and_readable() -> None:
    scopes = {
        "github.com/acme/api": frozenset({"SONAR_TOKEN", "NPM_TOKEN"}),
        "github.com/acme": frozenset({"NULL"}),
    }
    assert admin.catalog_text(scopes) == (
        "# Written by `knargo secrets`: names only, never values.\n"
        "scopes:\n"
        "  github.com/acme:\n"
        "  - 'NULL'\n"
        "  github.com/acme/api:\n"
        "  - NPM_TOKEN\n"
        "  - SONAR_TOKEN\n"
    )
    assert admin.catalog_text({}).endswith("scopes: {}\n")


def test_catalog_edits() -> None:
    one = admin.with_secret({}, "github.com/acme", "A")
    two = admin.with_secret(one, "github.com/acme", "B")
    assert two == {"github.com/acme": frozenset({"A", "B"})}
    assert admin.without_secret(two, "github.com/acme", "A") == {"github.com/acme": {"B"}}
    assert admin.without_secret(one, "github.com/acme", "A") == {}  # an empty scope goes
    assert admin.without_secret(one, "github.com/other", "A") == one


def test_the_catalog_config_map_keeps_what_others_wrote() -> None:
    live = {
        "metadata": {
            "name": admin.CATALOG_CONFIG_MAP,
            "resourceVersion": "42",
            "labels": {"app.kubernetes.io/part-of": "knargo"},
            "annotations": {"note": "hand-made"},
            "managedFields": [{"manager": "kubectl"}],
        },
        "data": {"catalog.yaml": "scopes: {}\n", "README": "names only"},
    }
    written = admin.catalog_config_map("knargo", {"github.com/acme": frozenset({"A"})}, live)
    assert written["metadata"] == {
        "name": "knargo-secret-catalog",
        "namespace": "knargo",
        "labels": {"app.kubernetes.io/part-of": "knargo"},  # as deployed: no drift
        "annotations": {"note": "hand-made"},
        "resourceVersion": "42",
    }
    assert written["data"]["README"] == "names only"
    assert "github.com/acme:\n  - A\n" in written["data"]["catalog.yaml"]
    fresh = admin.catalog_config_map("knargo", {}, None)
    assert fresh["metadata"] == {
        "name": "knargo-secret-catalog",
        "namespace": "knargo",
        "labels": {"app.kubernetes.io/part-of": "knargo", "app.kubernetes.io/managed-by": "knargo"},
    }


def test_read_catalog() -> None:
    assert admin.read_catalog(None, "x") == ({}, [])
    assert admin.read_catalog({"data": {}}, "x") == ({}, [])
    good = {"data": {"catalog.yaml": "scopes: {github.com/acme: [A]}\n"}}
    assert admin.read_catalog(good, "x") == ({"github.com/acme": frozenset({"A"})}, [])
    scopes, problems = admin.read_catalog({"data": {"catalog.yaml": "scopes: [x]\n"}}, "cm")
    assert scopes is None
    assert [str(p) for p in problems] == [
        'cm:1:9: error: "scopes" must map scopes to lists of secret names [catalog]'
    ]


# --- Secrets --------------------------------------------------------------------------------

UPDATED = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


def test_the_secret_manifest() -> None:
    manifest = admin.secret_manifest(
        "ci", "github.com/acme/api", "NPM_TOKEN", b"\x00s3\xff", UPDATED
    )
    assert manifest == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_object_name("github.com/acme/api", "NPM_TOKEN"),
            "namespace": "ci",
            "labels": {"app.kubernetes.io/managed-by": "knargo"},
            "annotations": {
                "knargo.dev/secret-scope": "github.com/acme/api",
                "knargo.dev/secret-name": "NPM_TOKEN",
                "knargo.dev/updated-at": "2026-03-01T12:00:30Z",
            },
        },
        "type": "Opaque",
        "data": {"value": base64.b64encode(b"\x00s3\xff").decode()},
    }
    live = {"resourceVersion": "7", "labels": {"team": "a"}, "annotations": {"x": "y"}}
    updated = admin.secret_manifest("ci", "github.com/acme/api", "NPM_TOKEN", b"v", UPDATED, live)
    assert updated["metadata"]["resourceVersion"] == "7"
    assert updated["metadata"]["labels"]["team"] == "a"
    assert updated["metadata"]["annotations"]["x"] == "y"


def test_foreign_secrets_are_recognised() -> None:
    ours = admin.secret_manifest("ci", "github.com/acme", "A", b"v", UPDATED)["metadata"]
    assert admin.foreign_secret(ours, "github.com/acme", "A") is None
    unlabelled = {**ours, "labels": {}}
    assert "is not managed by knargo" in (
        admin.foreign_secret(unlabelled, "github.com/acme", "A") or ""
    )
    other = admin.foreign_secret(ours, "github.com/acme", "B") or ""
    assert "belongs to github.com/acme A, not github.com/acme B" in other


def test_secret_rows_join_the_catalog_and_the_secrets() -> None:
    scopes = {"github.com/acme": frozenset({"A", "B"}), "github.com/acmecorp": frozenset({"C"})}
    metadata = [
        admin.secret_manifest("ci", "github.com/acme", "A", b"v", UPDATED)["metadata"],
        admin.secret_manifest("ci", "github.com/acme/api", "D", b"v", UPDATED)["metadata"],
        {"name": "knargo-forge-github", "labels": {"app.kubernetes.io/managed-by": "knargo"}},
    ]
    rows = admin.secret_rows(scopes, metadata)
    assert [(r.scope, r.name, r.state) for r in rows] == [
        ("github.com/acme", "A", "ok"),
        ("github.com/acme", "B", "missing-secret"),
        ("github.com/acme/api", "D", "not-in-catalog"),
        ("github.com/acmecorp", "C", "missing-secret"),
    ]
    assert rows[0].updated == "2026-03-01T12:00:30Z" and rows[1].updated is None
    assert rows[1].secret == secret_object_name("github.com/acme", "B")
    under = admin.secret_rows(scopes, metadata, "github.com/acme")
    assert [r.name for r in under] == ["A", "B", "D"]  # not github.com/acmecorp
    assert set(rows[0].to_dict()) == {"scope", "name", "secret", "updated", "state"}


# --- lint --cluster: forks ------------------------------------------------------------------


def fork_messages(text: str, fork_pull_requests: str = "run") -> list[str]:
    settings = Settings(forges=GITHUB, fork_pull_requests=fork_pull_requests)
    return [str(d) for d in forkcheck.fork_warnings(text, "ci.yaml", settings)]


def job(condition: str | None = None) -> str:
    guard = f"    if: {condition}\n" if condition else ""
    return f"jobs:\n  deploy:\n    image: alpine\n    run: x\n    secrets: [NPM_TOKEN]\n{guard}"


def test_jobs_with_secrets_that_forks_run_are_warned_about() -> None:
    assert fork_messages("on: [push, pull_request]\n" + job()) == [
        'ci.yaml:6:5: warning: job "deploy" gets no secrets (NPM_TOKEN) in pull requests from '
        'forks; add if: "!fork" to skip it there [fork]'
    ]
    assert len(fork_messages(job())) == 1  # without on:, pull requests run it too
    assert len(fork_messages(job("branch == 'main'"))) == 1  # a fork's branch may be main
    assert len(fork_messages(job("event == 'pull_request' && startsWith(branch, 'x/')"))) == 1


@pytest.mark.parametrize(
    "condition",
    [
        '"!fork"',
        "event == 'tag'",
        "event != 'pull_request'",
        "is_default_branch",
        "\"tag != '' && matches(tag, 'v*')\"",
        "\"!fork && forge == 'github'\"",
    ],
)
def test_jobs_forks_never_run_are_not_warned_about(condition: str) -> None:
    assert fork_messages(job(condition)) == []


def test_no_fork_warnings_without_pull_requests_or_when_forks_are_skipped() -> None:
    assert fork_messages("on: push\n" + job()) == []
    assert fork_messages("on: {push: {}, schedule: [{cron: '@daily'}]}\n" + job()) == []
    assert fork_messages(job(), fork_pull_requests="skip") == []


def test_fork_warnings_come_even_when_the_file_has_errors() -> None:
    text = "on: {pull_request: {branches: main}}\n" + job() + "    runner: 7\n  b: {image: x}\n"
    assert len(fork_messages(text)) == 1
    assert fork_messages(job("event ==")) == []  # lint reports the broken condition
    assert fork_messages("- a list\n") == fork_messages("jobs: [a]\n") == []
    dict_form = "jobs:\n  a: {image: x, run: y, secrets: {TOKEN: NPM_TOKEN}}\n"
    assert "(NPM_TOKEN)" in fork_messages(dict_form)[0]
