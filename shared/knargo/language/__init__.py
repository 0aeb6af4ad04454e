"""The `ci.yaml` language: its models, its checks and the small languages inside it.

* `dialect`: the strict, frozen pydantic models (their docstrings are the JSON Schema's);
* `lint`: every problem of a file in one pass, with positions; `forkcheck`: what
  `lint --cluster` adds about fork pull requests;
* `conditions` (`if:`), `cron` (`on.schedule`), `globs` (branch, tag and path filters).

May import `knargo.config` (checks against runner aliases and the secret catalog),
`knargo.formats` and `knargo.contract`.
"""
