"""The platform's configuration: what a platform team mounts, and what admins change.

* `settings`: the configuration file (`KNARGO_CONFIG`): namespace, forges, runner aliases;
* `catalog`: the secret catalog (which secret names exist in which scope, never values);
* `credentials`: the mounted webhook secrets and tokens; `startup`: what each function reads
  at start-up, failing with the file and key;
* `admin`, `quantities`, `runnercheck`: what `knargo secrets` and `knargo runners` decide.

May import `knargo.formats` and `knargo.contract`.
"""
