"""generate: a `dev.knargo.git.*` CloudEvent in, a Workflow on the cluster, a reply event out.

    functions-framework --source functions/generate/main.py --target handle

An HTTP function, because a Knative reply must travel in the response and
functions-framework ignores what a CloudEvent function returns. Reads PORT, KNARGO_CONFIG,
KNARGO_CREDENTIALS_DIR, KNARGO_SECRET_CATALOG, KNARGO_METRICS_PORT, KNARGO_LOG_FORMAT and the
Kubernetes client's own variables (in a pod: the service account; elsewhere KUBECONFIG).
Every decision is in `knargo.functions.generate`; `knargo.edge.generate` decodes, calls it,
logs, counts and maps the outcome.
"""

import os

import functions_framework

from knargo.config.startup import generate_runtime
from knargo.edge.generate import GenerateEdge
from knargo.edge.shell import Shell
from knargo.io.kube import Cluster
from knargo.io.network import ForgeClient, ForgeReader

SHELL = Shell("generate")
METRICS = SHELL.metrics
RUNTIME, CLUSTER = SHELL.start(
    os.environ, lambda: (generate_runtime(os.environ), Cluster.connect(os.environ, METRICS))
)
READER = ForgeReader(RUNTIME.settings, RUNTIME.credentials, ForgeClient(metrics=METRICS))


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    edge = GenerateEdge(SHELL, RUNTIME, READER, CLUSTER)
    return edge.handle(request.headers, request.get_data()).response()
