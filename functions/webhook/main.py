"""webhook: a forge delivery in, one verified `dev.knargo.git.*` CloudEvent out to the broker.

    functions-framework --source functions/webhook/main.py --target handle

Reads PORT, K_SINK, K_CE_OVERRIDES, KNARGO_CONFIG, KNARGO_CREDENTIALS_DIR,
KNARGO_MAX_BODY_BYTES, KNARGO_METRICS_PORT and KNARGO_LOG_FORMAT; a changed configuration
file or secret (a rotation) takes effect within a second. This shell reads the body within
the size limit; `knargo.edge.webhook` verifies, publishes, logs and counts.
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

from knargo.config.startup import webhook_files, webhook_runtime  # noqa: E402
from knargo.edge.shell import Shell  # noqa: E402
from knargo.edge.webhook import WebhookEdge, read_body  # noqa: E402
from knargo.forges import Headers  # noqa: E402
from knargo.io.network import Publisher  # noqa: E402

SHELL = Shell("webhook")
METRICS = SHELL.metrics
RUNTIME = SHELL.start(
    os.environ, lambda: SHELL.watch(lambda: webhook_runtime(os.environ), webhook_files(os.environ))
)
PUBLISHER = Publisher(RUNTIME.current().sink)
gc.freeze()
gc.enable()


def _body(request, limit):  # type: ignore[no-untyped-def]
    """The raw body, or None when it is over the limit (then read no further)."""
    body = read_body(request.stream, request.content_length, limit)
    if body is None:
        request._cached_data = b""  # functions-framework would read the rest into memory
    return body


@functions_framework.http
def handle(request):  # type: ignore[no-untyped-def]
    headers, runtime = Headers(request.headers.items()), RUNTIME.current()
    edge = WebhookEdge(SHELL, runtime, PUBLISHER)
    return edge.handle(request.method, headers, lambda: _body(request, runtime.max_body)).response()
