"""The contract between the functions: what travels, and how failures are answered.

* `events`: the CloudEvent types and their data (`GitEvent`, the `pipeline.*` replies); the
  one place where event type strings are written;
* `cloudevent`: the one user of the CloudEvents SDK (binary and structured HTTP coding);
* `routes`: which function receives which event type (the Triggers' table);
* `errors`: the one exception tree; `outcomes`: the one table from failures to HTTP answers.

Imports nothing else of knargo. Bottom layer, beside `knargo.formats`.
"""
