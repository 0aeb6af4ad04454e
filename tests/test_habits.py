"""GitHub Actions habits get hints that name knargo's equivalent, never the nearest key by
spelling, and `${{ … }}` where knargo does not evaluate it is a warning saying what to write."""

from __future__ import annotations

import pytest

from knargo.formats.diagnostics import Severity
from knargo.language.habits import instead
from knargo.language.lint import check

GITHUB_KEYS = ("runs-on", "steps", "strategy", "services", "container", "concurrency")
GITHUB_KEYS += ("permissions",)
JOB = "jobs:\n  build:\n    image: alpine\n    run: make\n"


def messages(text: str) -> list[str]:
    return [d.message for d in check(text).diagnostics]


@pytest.mark.parametrize("key", [k for k in GITHUB_KEYS if k not in ("services", "concurrency")])
def test_github_keys_in_a_job_get_a_hint(key: str) -> None:
    [message] = messages(JOB + f"    {key}: x\n")
    assert f'unknown key "{key}"' in message and "; " in message.split(")", 1)[1]
    assert "did you mean" not in message


@pytest.mark.parametrize("key", [k for k in GITHUB_KEYS if k != "concurrency"])  # a key of ours
def test_github_keys_at_the_top_get_a_hint(key: str) -> None:
    [message] = messages(f"{key}: x\n" + JOB)
    assert f'unknown key "{key}"' in message and "; " in message.split(")", 1)[1]
    assert "did you mean" not in message


@pytest.mark.parametrize("key", ["branches-ignore", "paths-ignore"])
def test_ignore_filters_under_on_get_a_hint(key: str) -> None:
    [message] = messages(f"on:\n  push:\n    {key}: [docs/**]\n" + JOB)
    assert '"!" pattern' in message and "did you mean" not in message


@pytest.mark.parametrize(
    ("expression", "advice"),
    [
        ("secrets.NPM_TOKEN", '"secrets: [NPM_TOKEN]" and write "$NPM_TOKEN"'),
        ("github.sha", '"$KNARGO_SHA"'),
        ("github.ref", '"$KNARGO_REF"'),
        ("github.head_ref", "$KNARGO_REF"),
        ("env.HOME", '"$HOME"'),
        ("vars.REGION", "stays as written"),
    ],
)
def test_expressions_outside_their_places_are_warnings(expression: str, advice: str) -> None:
    assert advice in instead(expression)
    text = JOB.replace("run: make", f"run: echo ${{{{ {expression} }}}}")
    [diagnostic] = check(text).diagnostics
    assert diagnostic.severity is Severity.WARNING and diagnostic.rule == "expression"
    assert (diagnostic.line, diagnostic.col) == (4, 15)
    assert advice in diagnostic.message


def test_expressions_in_their_places_are_left_alone() -> None:
    text = JOB + "    if: ${{ event == 'push' }}\n    env:\n      PY: ${{ matrix.python }}\n"
    text += '    matrix: {python: ["3.12"]}\n'
    text += "    concurrency:\n      group: deploy-${{ branch }}\n"
    assert check(text).diagnostics == []


def test_concurrency_is_a_job_key_and_its_group_values_are_checked() -> None:
    text = JOB + "    concurrency:\n      group: deploy-${{ brnch }}\n"
    [diagnostic] = check(text).diagnostics
    assert (diagnostic.rule, diagnostic.line, diagnostic.col) == ("concurrency", 6, 25)
    assert 'unknown value "brnch"' in diagnostic.message and "did you mean" in diagnostic.message


def test_a_matrix_value_in_the_script_is_reported_once_by_the_matrix_rule() -> None:
    assert '"$MATRIX_PYTHON"' in instead("matrix.python")
    text = JOB.replace("run: make", "run: echo ${{ matrix.python }}")
    text += '    matrix: {python: ["3.12"]}\n'
    [diagnostic] = check(text).diagnostics
    assert (diagnostic.rule, diagnostic.line, diagnostic.col) == ("matrix", 4, 15)
    assert "$MATRIX_PYTHON" in diagnostic.message
