"""The pipeline's failure description names a job as its status context shows it."""

from __future__ import annotations

from typing import Any

from knargo.functions import status


def _workflow(message: str) -> dict[str, Any]:
    template = {"name": "itest-15", "metadata": {"annotations": {"knargo.dev/job": "itest (15)"}}}
    return {
        "spec": {"templates": [template]},
        "status": {"phase": "Failed", "message": message, "nodes": {}},
    }


def test_argo_child_failed_names_the_matrix_combination_as_shown() -> None:
    assert status.pipeline_said(_workflow("child 'itest-15' failed")) == (
        status.State.FAILURE,
        "failed: job itest (15) failed",
    )


def test_other_messages_and_unknown_tasks_are_kept() -> None:
    assert status.pipeline_said(_workflow("Step exceeded its deadline"))[1] == (
        "failed: Step exceeded its deadline"
    )
    assert status.pipeline_said(_workflow("child 'other' failed"))[1] == "failed: job other failed"
