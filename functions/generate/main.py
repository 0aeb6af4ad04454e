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

import os

import functions_framework

from knargo.config.startup import generate_files, generate_runtime
from knargo.edge.generate import GenerateEdge
from knargo.edge.shell import Shell
from knargo.io.kube import Cluster
from knargo.io.network import ForgeClient, ForgeReader

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


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    runtime = RUNTIME.current()
    reader = ForgeReader(runtime.settings, runtime.credentials, FORGES)
    edge = GenerateEdge(SHELL, runtime, reader, CLUSTER)
    return edge.handle(request.headers, request.get_data()).response()
