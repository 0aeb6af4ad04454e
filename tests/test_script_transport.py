"""User text and event values reach the containers byte for byte; Argo never sees a `{{`.

The `run` script travels base64-encoded. An env value (the user's, or one taken from the event:
repository, ref, commit, clone URL) is a plain env var unless Argo or Kubernetes would rewrite
it: Argo templates `{{`, Kubernetes turns `$$` into `$` and expands `$(NAME)`. Those values
travel in an encoded env file that the container's shell sources (the job's container) or that
the checkout sources itself. This test merges `templateDefaults` into each template as Argo
does, resolves the plain env vars as the kubelet does (`_kubelet`, a port of Kubernetes'
`third_party/forked/golang/expansion`), sources the env files with a real `sh`, and compares
every value with the input.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knargo.config.settings import Settings
from knargo.contract.events import GitEvent
from knargo.language.dialect import CiConfig
from knargo.translation.plan import translate
from knargo.translation.templates import with_defaults

EVENT = GitEvent(
    forge_kind="github",
    forge_name="github",
    repository="acme/api",
    repository_url="https://github.com/acme/api",
    clone_url="https://github.com/acme/api.git",
    default_branch="main",
    kind="push",
    ref="refs/heads/main",
    sha="a" * 40,
    delivery_id="d-1",
)
TRAPS = [
    "{{",
    "}}",
    "{{=",
    "${{ x }}",
    "{{inputs.x}}",
    "{{workflow.name}}",
    "$(CI)",
    "$(KNARGO_SHA)",
    "$$",
    "$$(CI)",
    "$(",
    "$",
    "'",
    '"',
    "\\",
    "$(id)",
    "`id`",
    "\r\n",
    "ünïcødé ✓",
    "\t",
    "{",
    "}",
    "%",
    "\n",
]
text = st.lists(
    st.one_of(
        st.sampled_from(TRAPS),
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
        ),
    ),
    max_size=12,
).map("".join)
script = text.filter(bool)


def _manifest(run: str, env: dict[str, str], event: GitEvent = EVENT) -> dict[str, Any]:
    config = CiConfig.model_validate({"jobs": {"job": {"image": "alpine", "run": run, "env": env}}})
    return translate(config, event, Settings.embedded())[0]


def kubelet_expand(value: str, defined: Mapping[str, str]) -> str:
    """What the kubelet makes of an `env[].value`: `$$` is `$`, `$(NAME)` expands if defined."""
    out: list[str] = []
    cursor, checkpoint = 0, 0
    while cursor < len(value):
        if value[cursor] == "$" and cursor + 1 < len(value):
            out.append(value[checkpoint:cursor])
            rest = value[cursor + 1 :]
            if rest[0] == "$":
                out.append("$")
                advance = 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:
                    out.append("$(")
                    advance = 1
                else:
                    name = rest[1:close]
                    out.append(defined.get(name, f"$({name})"))
                    advance = close + 1
            else:
                out.append("$" + rest[0])
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + value[checkpoint:]


def _kubelet(container: Mapping[str, Any]) -> dict[str, str]:
    """The container's plain env vars as its process sees them (in order, each expanded)."""
    resolved: dict[str, str] = {}
    for variable in container.get("env", []):
        if "value" in variable:
            resolved[variable["name"]] = kubelet_expand(variable["value"], resolved)
    return resolved


def _shell_sees(env: dict[str, str], env_file: str | None, names: list[str]) -> dict[str, str]:
    """In a real sh started with `env`, source `env_file` (if any), read `names` back."""
    script = "".join(f'printf "%s\\0" "${name}"\n' for name in names)
    if env_file is not None:
        script = ". /dev/stdin\n" + script
    result = subprocess.run(
        ["sh", "-c", script],
        input=(env_file or "").encode(),
        env=env | {"PATH": os.environ["PATH"]},
        capture_output=True,
        check=True,
    )
    return dict(zip(names, result.stdout.decode().split("\0")[:-1], strict=True))


def _decoded(env: dict[str, str], name: str) -> str | None:
    return base64.b64decode(env[name]).decode() if name in env else None


def _job(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    return with_defaults(spec["templateDefaults"], spec["templates"][1])


def _assert_no_plain_value_is_rewritten(manifest: dict[str, Any]) -> None:
    spec = manifest["spec"]
    for template in spec["templates"][1:]:
        merged = with_defaults(spec["templateDefaults"], template)
        for container in [*merged["initContainers"], merged["container"]]:
            written = {v["name"]: v["value"] for v in container["env"] if "value" in v}
            assert _kubelet(container) == written


refs = st.one_of(st.just("refs/heads/main"), text.map(lambda t: "refs/heads/" + t))
pull_requests = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {
            "kind": st.just("pull_request"),
            "pr_number": st.integers(1, 10**6),
            "base_ref": refs,
            "head_repository": text,
            "fork": st.booleans(),
        }
    ),
)
events = st.builds(
    lambda fields, pull: GitEvent.model_validate(
        {**EVENT.model_dump(exclude_none=True), **fields, **pull}
    ),
    st.fixed_dictionaries(
        {
            "ref": refs,
            "repository": st.one_of(st.just("acme/api"), text.map(lambda t: "acme/" + t)),
            "repository_url": text.map(lambda t: "https://github.com/" + t),
            "clone_url": st.one_of(st.just("https://github.com/acme/api.git"), text),
            "sha": st.one_of(st.just("a" * 40), text),
            "default_branch": st.one_of(st.just("main"), text.filter(bool)),
            "sender": text,
            "delivery_id": text.filter(bool),
        }
    ),
    pull_requests,
)
CHECKOUT = ["KNARGO_CLONE_URL", "KNARGO_SHA", "KNARGO_FETCH_REF"]
JOB = ["VALUE", "OTHER", "KNARGO_REF", "KNARGO_REPOSITORY", "KNARGO_SHA", "KNARGO_PULL_REQUEST"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=script, value=text, event=events)
def test_user_text_and_event_values_arrive_byte_for_byte(
    run: str, value: str, event: GitEvent
) -> None:
    manifest = _manifest(run, {"VALUE": value, "OTHER": "plain"}, event)
    assert "{{" not in json.dumps(manifest, ensure_ascii=False)
    _assert_no_plain_value_is_rewritten(manifest)
    template = _job(manifest)
    (init,) = template["initContainers"]
    init_env = _kubelet(init)
    assert _decoded(init_env, "KNARGO_SCRIPT") == run
    checkout_env = _decoded(init_env, "KNARGO_CHECKOUT_ENV")
    assert _shell_sees(init_env, checkout_env, CHECKOUT) == {
        "KNARGO_CLONE_URL": event.clone_url,
        "KNARGO_SHA": event.sha,
        "KNARGO_FETCH_REF": (
            event.ref if event.pr_number is None else f"refs/pull/{event.pr_number}/head"
        ),
    }
    # The checkout writes the job's env file from its KNARGO_ENV; the job's shell sources it.
    job_env = _decoded(init_env, "KNARGO_ENV")
    assert _shell_sees(_kubelet(template["container"]), job_env, JOB) == {
        "VALUE": value,
        "OTHER": "plain",
        "KNARGO_REF": event.ref,
        "KNARGO_REPOSITORY": event.repository,
        "KNARGO_SHA": event.sha,
        "KNARGO_PULL_REQUEST": "" if event.pr_number is None else str(event.pr_number),
    }


@given(value=text)
def test_the_kubelet_model_rewrites_what_kubernetes_rewrites(value: str) -> None:
    """The model used above is not the identity: `$$` and defined `$(NAME)` change."""
    assert kubelet_expand("a$$b", {}) == "a$b"
    assert kubelet_expand("x$(CI)y", {"CI": "true"}) == "xtruey"
    assert kubelet_expand("x$(NOPE)y $( $", {}) == "x$(NOPE)y $( $"
    if "$" not in value:
        assert kubelet_expand(value, {"CI": "true"}) == value


def test_values_argo_or_kubernetes_rewrite_are_not_plain_env_vars() -> None:
    env = {"A": "{{workflow.name}}", "B": "x}} {", "C": "$(CI)", "D": "a$$b", "E": "$ (x) $"}
    manifest = _manifest("echo", env)
    plain = _kubelet(_job(manifest)["container"])
    assert not {"A", "C", "D"} & set(plain)
    assert (plain["B"], plain["E"]) == ("x}} {", "$ (x) $")


def test_a_branch_named_like_a_variable_reaches_the_checkout_exactly() -> None:
    event = EVENT.model_copy(update={"ref": "refs/heads/x$(CI)"})
    manifest = _manifest("echo", {}, event)
    assert "x$(CI)" not in json.dumps(manifest["spec"])
    (init,) = _job(manifest)["initContainers"]
    init_env = _kubelet(init)
    assert "KNARGO_FETCH_REF" not in init_env
    checkout_env = _decoded(init_env, "KNARGO_CHECKOUT_ENV")
    assert _shell_sees(init_env, checkout_env, ["KNARGO_FETCH_REF"]) == {
        "KNARGO_FETCH_REF": "refs/heads/x$(CI)"
    }


def test_yaml_crlf_and_unicode_survive_parsing(tmp_path: Any) -> None:
    from knargo.language.lint import check

    source = 'jobs:\n  j:\n    image: alpine\n    run: "a\\r\\nb {{x}} ✓"\n'
    config = check(source).config
    assert config is not None
    manifest = translate(config, EVENT, Settings.embedded())[0]
    (init,) = _job(manifest)["initContainers"]
    assert _decoded(_kubelet(init), "KNARGO_SCRIPT") == "a\r\nb {{x}} ✓"
