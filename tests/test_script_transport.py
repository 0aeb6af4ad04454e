"""User text reaches the container byte for byte, and Argo never sees a `{{` in a manifest.

The `run` script travels base64-encoded; env values without `{{` are plain env vars, the
others travel in an encoded env file that the job's shell sources. This test decodes what the
manifest carries (sourcing the env file with a real `sh`) and compares it with the input.
"""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knargo.config.settings import Settings
from knargo.contract.events import GitEvent
from knargo.language.dialect import CiConfig
from knargo.translation.plan import translate

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


def _manifest(run: str, env: dict[str, str]) -> dict[str, Any]:
    config = CiConfig.model_validate({"jobs": {"job": {"image": "alpine", "run": run, "env": env}}})
    return translate(config, EVENT, Settings.embedded())[0]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _sourced(env_file: str, names: list[str]) -> dict[str, str]:
    """Source the env file in a real sh and read the variables back, NUL-separated."""
    script = ". /dev/stdin\n" + "".join(f'printf "%s\\0" "${name}"\n' for name in names)
    result = subprocess.run(
        ["sh", "-c", script], input=env_file.encode(), capture_output=True, check=True
    )
    return dict(zip(names, result.stdout.decode().split("\0")[:-1], strict=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=script, value=text)
def test_user_text_arrives_byte_for_byte(run: str, value: str) -> None:
    manifest = _manifest(run, {"VALUE": value, "OTHER": "plain"})
    assert "{{" not in json.dumps(manifest, ensure_ascii=False)
    template = manifest["spec"]["templates"][1]
    init = _env(template["initContainers"][0])
    assert base64.b64decode(init["KNARGO_SCRIPT"]).decode() == run
    plain = _env(template["container"])
    if "VALUE" in plain:
        assert plain["VALUE"] == value
    else:
        env_file = base64.b64decode(init["KNARGO_ENV"]).decode()
        assert _sourced(env_file, ["VALUE"]) == {"VALUE": value}
    assert plain["OTHER"] == "plain"


def test_values_with_braces_are_not_plain_env_vars() -> None:
    manifest = _manifest("echo", {"A": "{{workflow.name}}", "B": "x}} {"})
    plain = _env(manifest["spec"]["templates"][1]["container"])
    assert "A" not in plain
    assert plain["B"] == "x}} {"


def test_yaml_crlf_and_unicode_survive_parsing(tmp_path: Any) -> None:
    from knargo.language.lint import check

    source = 'jobs:\n  j:\n    image: alpine\n    run: "a\\r\\nb {{x}} ✓"\n'
    config = check(source).config
    assert config is not None
    manifest = translate(config, EVENT, Settings.embedded())[0]
    init = _env(manifest["spec"]["templates"][1]["initContainers"][0])
    assert base64.b64decode(init["KNARGO_SCRIPT"]).decode() == "a\r\nb {{x}} ✓"
