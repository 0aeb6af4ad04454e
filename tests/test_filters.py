"""`on:` filters decide like GitHub Actions; settings and the secret catalog read strictly."""

from __future__ import annotations

from typing import Any

import pytest

from knargo.config.catalog import FileCatalog, lookup_scopes, parse_catalog, resolve
from knargo.config.settings import Settings, parse_settings
from knargo.contract.events import GitEvent
from knargo.language.lint import check
from knargo.translation.filters import decide


def event(**fields: Any) -> GitEvent:
    base: dict[str, Any] = {
        "forge_kind": "github",
        "forge_name": "github",
        "repository": "acme/api",
        "repository_url": "https://github.com/acme/api",
        "clone_url": "https://github.com/acme/api.git",
        "default_branch": "main",
        "kind": "push",
        "ref": "refs/heads/main",
        "sha": "a" * 40,
        "delivery_id": "d",
    }
    return GitEvent.model_validate(base | fields)


def runs(on: str, ev: GitEvent, paths: list[str] | None = None) -> bool:
    config = check(f"{on}\njobs:\n  a: {{image: alpine, run: x}}\n").config
    assert config is not None
    return decide(config, ev, paths).run


BRANCH = event(ref="refs/heads/release/1.x")
TAG = event(kind="tag", ref="refs/tags/v1.2.0")
PR = event(kind="pull_request", ref="refs/heads/topic", base_ref="refs/heads/main", pr_number=1)


@pytest.mark.parametrize(
    ("on", "ev", "expected"),
    [
        ("", BRANCH, True),
        ("", TAG, True),
        ("", PR, True),
        ("on: push", PR, False),
        ("on: pull_request", BRANCH, False),
        ("on: [push, pull_request]", PR, True),
        ("on: {push: {branches: ['release/**']}}", BRANCH, True),
        ("on: {push: {branches: ['release/**']}}", TAG, False),  # only branches: no tags
        ("on: {push: {tags: ['v*']}}", TAG, True),
        ("on: {push: {tags: ['v*']}}", BRANCH, False),  # only tags: no branches
        ("on: {push: {tags: ['v2*']}}", TAG, False),
        ("on: {push: {branches: [main], tags: ['v*']}}", TAG, True),
        ("on: {push: {branches: ['*']}}", BRANCH, False),  # * does not cross /
        ("on: {push: {branches: ['**', '!release/**']}}", BRANCH, False),
        ("on: {push: {branches: ['!release/**']}}", event(), True),
        ("on: {pull_request: {branches: [main]}}", PR, True),
        ("on: {pull_request: {branches: [develop]}}", PR, False),
    ],
)
def test_ref_filters(on: str, ev: GitEvent, expected: bool) -> None:
    assert runs(on, ev) is expected


def test_path_filters() -> None:
    on = "on: {push: {paths: ['src/**', '!src/docs/**']}}"
    assert runs(on, event(), ["src/a.py"]) is True
    assert runs(on, event(), ["src/docs/a.md"]) is False
    assert runs(on, event(), ["README.md", "src/b/c.py"]) is True
    assert runs(on, event(), None) is True  # unknown paths count as matched
    assert runs("on: {push: {tags: ['v*'], paths: [src/**]}}", TAG, ["README.md"]) is True


def test_filtered_reasons_are_specific() -> None:
    config = check("on: {push: {branches: [main]}}\njobs:\n  a: {image: alpine, run: x}\n").config
    assert config is not None
    decision = decide(config, BRANCH, None)
    assert decision.reason == 'branch "release/1.x" does not match on.push.branches'


def test_settings_defaults_and_errors() -> None:
    settings, problems = parse_settings(
        "forges: [{name: gh, kind: github, api_url: a, web_url: 'https://GitHub.com'}]\n",
        "config.yaml",
    )
    assert settings is not None and problems == []
    assert settings.namespace == "ci" and settings.runners["default"].limits == {"memory": "1Gi"}
    assert settings.forge_for_host("github.com") is not None
    _, problems = parse_settings(
        "runners: {default: {requests: {cpu: lots}}}\nretention: forever\n", "config.yaml"
    )
    assert [str(p) for p in problems] == [
        'config.yaml:1:1: error: missing required key "forges" [schema]',
        'config.yaml:1:37: error: invalid resource quantity "lots" (e.g. 500m, 2, 1Gi) [quantity]',
        'config.yaml:2:12: error: invalid duration "forever" (expected a number with a unit, '
        "largest first: 45s, 30m, 1h30m, 2d) [duration]",
    ]


def test_numbers_in_runner_quantities_become_strings() -> None:
    settings, _ = parse_settings("forges: []\n", "c.yaml")
    assert settings is None
    settings, _ = parse_settings(
        "forges: [{name: g, kind: gitea, api_url: a, web_url: b}]\n"
        "runners: {default: {requests: {cpu: 2, memory: 0.5}}}\n",
        "c.yaml",
    )
    assert settings is not None and settings.runners["default"].requests == {
        "cpu": "2",
        "memory": "0.5",
    }


def test_catalog_resolution_order_and_isolation() -> None:
    catalog, problems = parse_catalog(
        "scopes:\n  gitlab.com/acme/platform/api: [A]\n  gitlab.com/acme/platform: [A, B]\n"
        "  gitlab.com/acme: [C]\n  gitlab.com/acme/other: [D]\n",
        "catalog.yaml",
    )
    assert catalog is not None and problems == []
    scope = "gitlab.com/acme/platform/api"
    assert list(lookup_scopes(scope)) == [scope, "gitlab.com/acme/platform", "gitlab.com/acme"]
    assert resolve(catalog, scope, "A").scope == scope  # type: ignore[union-attr]
    assert resolve(catalog, scope, "B").scope == "gitlab.com/acme/platform"  # type: ignore[union-attr]
    assert resolve(catalog, scope, "C").scope == "gitlab.com/acme"  # type: ignore[union-attr]
    assert resolve(catalog, scope, "D") is None  # another repository's secret
    assert resolve(FileCatalog(), scope, "A") is None


def test_catalog_errors() -> None:
    _, problems = parse_catalog("scopes:\n  nohost: [lower]\n", "catalog.yaml")
    assert [p.message for p in problems] == [
        'invalid scope "nohost" (expected host/owner or host/owner/repository)',
        'invalid secret name "lower" ([A-Z_][A-Z0-9_]*)',
    ]


def test_embedded_settings_have_public_forges_and_sample_runners() -> None:
    settings = Settings.embedded()
    assert {f.host for f in settings.forges} == {"github.com", "gitlab.com", "codeberg.org"}
    assert set(settings.runners) == {"default", "large", "gpu"}
