"""generate with a matrix and services: the Workflow the API server stores is the one planned.

The loopback API server (`kubefake`) prunes fields the v4.1.2 CRD does not know and rejects
what it forbids, so an unchanged round trip shows every sidecar field and every combination's
template is accepted as rendered; the reply names each combination as its status shows it.
"""

from __future__ import annotations

from knargo.contract import events
from test_generate_function import (  # noqa: F401 (env is a fixture)
    SHA,
    Env,
    env,
    expected_workflow,
    push,
    reply,
    without_server_fields,
)

CI = """\
jobs:
  test:
    image: python:${{ matrix.python }}
    run: pytest
    secrets: [NPM_TOKEN]
    matrix:
      python: [3.12, "3.13"]
      include:
        - python: "3.13"
          experimental: true
    services:
      db:
        image: postgres:16
        env: {POSTGRES_HOST_AUTH_METHOD: trust}
        secrets: {POSTGRES_PASSWORD: NPM_TOKEN}
        ports: [5432]
        command: pg_isready -U postgres
      cache: redis:7
  publish:
    needs: test
    image: alpine
    run: ./publish
"""


def test_a_matrix_with_services_is_stored_as_planned(env: Env) -> None:  # noqa: F811
    env.forge.add_file("github", "acme/api", SHA, "ci.yaml", CI.encode())
    answer = reply(env.post(push()))
    assert answer.type == events.PIPELINE_SUBMITTED, answer.data
    [workflow] = env.workflows()
    assert without_server_fields(workflow) == expected_workflow(env, push(), CI)
    assert answer.data["jobs"] == [
        {"id": "test (3.12)", "task": "test-3-12", "needs": []},
        {"id": "test (3.13, true)", "task": "test-3-13-true", "needs": []},
        {"id": "publish", "task": "publish", "needs": ["test (3.12)", "test (3.13, true)"]},
    ]
    sidecars = [t.get("sidecars") for t in workflow["spec"]["templates"][1:3]]
    assert all(s is not None and [c["name"] for c in s] == ["db", "cache"] for s in sidecars)
