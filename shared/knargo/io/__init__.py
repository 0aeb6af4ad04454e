"""The two modules that do network I/O; everything below them is testable without a network.

* `network`: HTTP through httpx: publishing to the broker, the forges' file and status APIs;
* `kube`: Kubernetes through the `kubernetes` client: Workflows, CronWorkflows, ConfigMaps
  and Secrets.

They implement the ports of `knargo.functions` and may import every layer below.
"""
