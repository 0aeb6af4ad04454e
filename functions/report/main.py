"""report: pipeline replies and Workflow updates in, commit statuses on the forge out.

    functions-framework --source functions/report/main.py --target handle

An HTTP function, because the broker must see 429 and 503 to redeliver and a CloudEvent
function can only answer 200. Reads PORT, KNARGO_CONFIG, KNARGO_CREDENTIALS_DIR,
KNARGO_METRICS_PORT, KNARGO_LOG_FORMAT and the Kubernetes client's own variables. Every
decision is in `knargo.functions.report`; a changed configuration or token file takes effect
within a second; `knargo.edge.report` decodes, calls it, logs and
counts. At `/dead-letter` it is the Triggers' dead-letter sink.
"""

import gc
import os

import functions_framework

# Start-up allocates tens of thousands of objects that all live as long as the process:
# collecting them while importing costs up to a tenth of the start. Frozen afterwards, they
# are never scanned again (nor copied into gunicorn's worker by the collector's writes).
gc.disable()
# knargo uses no pydantic plugin; without this, building the first model reads the entry
# points of every installed distribution to look for one (about 5 ms).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from knargo.config.startup import report_files, report_runtime  # noqa: E402
from knargo.edge.report import ReportEdge  # noqa: E402
from knargo.edge.shell import Shell  # noqa: E402
from knargo.functions.report import CommitLocks  # noqa: E402
from knargo.io.kube import Cluster  # noqa: E402
from knargo.io.network import ForgeClient, StatusClient  # noqa: E402

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

gc.freeze()
gc.enable()


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    runtime = RUNTIME.current()
    statuses = StatusClient(runtime.settings, runtime.credentials, FORGES)
    edge = ReportEdge(SHELL, runtime.settings, statuses, CLUSTER, LOCKS)
    return edge.handle(request.path, request.headers, request.get_data()).response()
