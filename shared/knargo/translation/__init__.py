"""Translation to Argo Workflows: a checked `ci.yaml` and one event in, manifests out. Pure.

* `plan`: what an event produces (a Workflow, CronWorkflows, or the reason nothing runs);
  `filters`: whether `on:` lets the event run the pipeline;
* `templates`: the WorkflowSpec (one DAG, one template per job); `jobpod`: the checkout and
  the script's transport inside a job's pod;
* `manifests`: the Argo types knargo emits, as typed dictionaries.

May import `knargo.language`, `knargo.config`, `knargo.formats` and `knargo.contract`.
"""
