"""webhook: a forge delivery in, one verified `dev.knargo.git.*` CloudEvent out to the broker.

    functions-framework --source functions/webhook/main.py --target handle

Reads PORT, K_SINK, K_CE_OVERRIDES, KNARGO_CONFIG, KNARGO_CREDENTIALS_DIR,
KNARGO_MAX_BODY_BYTES, KNARGO_METRICS_PORT and KNARGO_LOG_FORMAT. This shell reads the body
within the size limit; `knargo.edge.webhook` verifies, publishes, logs and counts.
"""

import os

import functions_framework

from knargo.config.startup import webhook_runtime
from knargo.edge.shell import Shell
from knargo.edge.webhook import WebhookEdge
from knargo.forges import Headers
from knargo.io.network import Publisher

SHELL = Shell("webhook")
METRICS = SHELL.metrics
RUNTIME = SHELL.start(os.environ, lambda: webhook_runtime(os.environ))
PUBLISHER = Publisher(RUNTIME.sink)


def _body(request):  # type: ignore[no-untyped-def]
    """The raw body, or None when it is over the limit (then read no further)."""
    if (request.content_length or 0) <= RUNTIME.max_body:
        body = request.stream.read(RUNTIME.max_body + 1)
        if len(body) <= RUNTIME.max_body:
            return body
    request._cached_data = b""  # functions-framework would read the rest into memory
    return None


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    headers = Headers(request.headers.items())
    edge = WebhookEdge(SHELL, RUNTIME, PUBLISHER)
    return edge.handle(request.method, headers, lambda: _body(request)).response()
