"""The textual formats knargo reads and writes, independent of what the text means.

* `positions`: YAML composed with the line and column of every key and value (YAML 1.2 core
  schema, duplicate keys as errors); `yamltext`: block-style YAML written from plain data;
* `diagnostics`: positioned, sorted problems (`file:line:col: severity: message [rule]`);
  `locate`: pydantic validation errors mapped to those positions, with "did you mean" hints;
* `durations`: `30m`, `1h30m`; `naming`: deterministic Kubernetes names and label values.

Imports nothing else of knargo. Bottom layer, beside `knargo.contract`: every file format of
the project (`ci.yaml`, the platform configuration, the secret catalog) is built on it.
"""
