"""report: pipeline replies and Workflow updates in, commit statuses on the forge out.

    functions-framework --source functions/report/main.py --target handle

An HTTP function, because the broker must see 429 and 503 to redeliver and a CloudEvent
function can only answer 200. Reads PORT, KNARGO_CONFIG, KNARGO_CREDENTIALS_DIR,
KNARGO_METRICS_PORT, KNARGO_LOG_FORMAT and the Kubernetes client's own variables. Every
decision is in `knargo.functions.report`; a changed configuration or token file takes effect
within a second; `knargo.edge.report` decodes, calls it, logs and
counts. At `/dead-letter` it is the Triggers' dead-letter sink.
"""

import os

import functions_framework

from knargo.config.startup import report_files, report_runtime
from knargo.edge.report import ReportEdge
from knargo.edge.shell import Shell
from knargo.functions.report import CommitLocks
from knargo.io.kube import Cluster
from knargo.io.network import ForgeClient, StatusClient

SHELL = Shell("report")
METRICS = SHELL.metrics
RUNTIME, CLUSTER = SHELL.start(
    os.environ,
    lambda: (
        SHELL.watch(lambda: report_runtime(os.environ), report_files(os.environ)),
        Cluster.connect(os.environ, METRICS),
    ),
)
FORGES = ForgeClient(metrics=METRICS)
LOCKS = CommitLocks()


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    runtime = RUNTIME.current()
    statuses = StatusClient(runtime.settings, runtime.credentials, FORGES)
    edge = ReportEdge(SHELL, runtime.settings, statuses, CLUSTER, LOCKS)
    return edge.handle(request.path, request.headers, request.get_data()).response()
