"""The edge of the three functions: what their `functions/*/main.py` shells share.

Each shell decodes the HTTP request (functions-framework's Flask request), calls its edge
here with plain values, and returns the answer. The edge starts the function (configuration,
metrics port, tracing; a clear exit when a file or key is missing), performs the I/O the
function's decision asks for (`knargo.io`), and writes one log line and the metrics of each
request. It may import every layer below the command line; `knargo.edge.webhook` never
imports the Kubernetes client.
"""
