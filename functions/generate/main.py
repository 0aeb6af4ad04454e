"""generate: a `dev.knargo.git.*` CloudEvent in, a Workflow on the cluster, a reply event out.

    functions-framework --source functions/generate/main.py --target handle

An HTTP function, because a Knative reply must travel in the response and
functions-framework ignores what a CloudEvent function returns. Reads PORT, KNARGO_CONFIG,
KNARGO_CREDENTIALS_DIR, KNARGO_SECRET_CATALOG, KNARGO_METRICS_PORT, KNARGO_LOG_FORMAT and the
Kubernetes client's own variables (in a pod: the service account; elsewhere KUBECONFIG). A
changed configuration, credential or catalog file takes effect within a second.
Every decision is in `knargo.functions.generate`; `knargo.edge.generate` decodes, calls it,
logs, counts and maps the outcome.
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

from knargo.config.startup import generate_files, generate_runtime  # noqa: E402
from knargo.edge.generate import GenerateEdge  # noqa: E402
from knargo.edge.shell import Shell  # noqa: E402
from knargo.io.kube import Cluster  # noqa: E402
from knargo.io.network import ForgeClient, ForgeReader  # noqa: E402

SHELL = Shell("generate")
METRICS = SHELL.metrics
RUNTIME, CLUSTER = SHELL.start(
    os.environ,
    lambda: (
        SHELL.watch(lambda: generate_runtime(os.environ), generate_files(os.environ)),
        Cluster.connect(os.environ, METRICS),
    ),
)
FORGES = ForgeClient(metrics=METRICS)

gc.freeze()
gc.enable()


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    runtime = RUNTIME.current()
    reader = ForgeReader(runtime.settings, runtime.credentials, FORGES)
    edge = GenerateEdge(SHELL, runtime, reader, CLUSTER)
    return edge.handle(request.headers, request.get_data()).response()
