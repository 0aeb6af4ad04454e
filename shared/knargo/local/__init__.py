"""knargo on one machine: the whole chain without a cluster (`knargo run`, `knargo dev`).

Every step is the production code: `knargo.functions.webhook.receive` verifies and normalises a
delivery, `knargo.functions.generate.generate` reads ci.yaml and submits the Workflow,
`knargo.functions.report.report` turns events into commit statuses. Only the
surroundings are local:

* `broker`: routes CloudEvents by type through `knargo.contract.routes` (the Knative Triggers'
  table), feeds replies back in, retries what a function answers 5xx/429, keeps dead letters;
* `cluster`: Workflows and CronWorkflows as JSON files under `.knargo/cluster/`;
* `executor` (with `pod`, `nodes`, `retry`, `engine`, `secrets`, `selection`): runs a
  stored Workflow's DAG as local processes (or containers) and writes its status the way
  Argo does;
* `forge`: ci.yaml read with git, statuses in `.knargo/statuses.jsonl`;
* `payloads` describes a local commit as a signed GitHub delivery (for `knargo run`);
* `chain` wires them; `server` is `knargo dev`'s HTTP endpoint; `view` shows a run live;
  `demo` is `make demo`.
"""
