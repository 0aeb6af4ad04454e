"""A matrix job's artifacts: every combination's files are restored at the same paths in a
job that needs it, so lint warns unless each combination writes under its own directory."""

from __future__ import annotations

from knargo.formats.diagnostics import Severity
from knargo.language.lint import check

CI = """\
jobs:
  build:
    image: python:${{{{ matrix.python }}}}
    matrix:
      python: ["3.12", "3.13"]
    run: {run}
    artifacts:
      paths: [dist/]
  publish:
    needs: build
    image: alpine
    run: ls dist/
"""


def _artifacts(text: str) -> list[str]:
    return [str(d) for d in check(text).diagnostics if d.rule == "artifacts"]


def test_a_needed_matrix_job_with_artifacts_gets_a_warning_at_the_key() -> None:
    (found,) = _artifacts(CI.format(run="pip wheel --wheel-dir dist/ ."))
    assert found == (
        'ci.yaml:7:5: warning: job "build" has a matrix: the artifacts of each of its '
        'combinations are restored at the same paths in job "publish", so files of the same '
        "name overwrite each other; write each combination's files under a directory named "
        "for it, e.g. dist/$MATRIX_PYTHON/ [artifacts]"
    )
    assert check(CI.format(run="make")).config is not None  # a warning: the file still runs


def test_combinations_writing_under_their_own_directory_are_not_warned() -> None:
    assert _artifacts(CI.format(run='pip wheel --wheel-dir "dist/$MATRIX_PYTHON/" .')) == []
    assert _artifacts(CI.format(run="pip wheel --wheel-dir dist/${MATRIX_PYTHON} .")) == []


def test_no_warning_without_a_job_that_needs_it_or_without_a_matrix() -> None:
    alone = CI.format(run="make").replace("    needs: build\n", "").replace("ls dist/", "true")
    assert _artifacts(alone) == []
    plain = CI.format(run="make").replace('    matrix:\n      python: ["3.12", "3.13"]\n', "")
    assert [d for d in check(plain).diagnostics if d.severity is Severity.WARNING] == []
