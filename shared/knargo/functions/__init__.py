"""What each function decides, without I/O: one entry point per function.

* `webhook`: a delivery → a verified `GitEvent` to publish, or a refusal;
* `generate`: a `GitEvent` → ci.yaml read, checked, translated and submitted through ports
  (`Files`, `Workflows`), and the reply event;
* `report`: events → commit statuses through ports (`Statuses`, `WorkflowReader`);
  `status`: what a run means for each status context, and which posts are due.

May import `knargo.forges`, `knargo.translation` and everything below them; never `knargo.io`:
the I/O modules implement the ports declared here.
"""
