"""`knargo approve WORKFLOW JOB`: resume a job that waits for approval, as `/approve` does.

For an administrator with access to the cluster (the kubeconfig's credentials need `get` and
`patch` on workflows in the pipeline namespace). What it changes is what `argo resume
--node-field-selector` changes (knargo.functions.approvals); the resume is recorded as
"Resumed by: <name> (knargo approve)", `<name>` from `--as` or the `USER` variable.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from contextlib import closing
from typing import Any

from knargo.cli import EXIT_OK, EXIT_PROBLEMS, add_connection_options, connect

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "approve",
        help="approve a job that waits for approval",
        description="Resume JOB of the run WORKFLOW, which waits for approval (approval: true "
        "or environment: in ci.yaml), the way `argo resume` does.",
    )
    parser.add_argument("workflow", metavar="WORKFLOW", help="the run's Workflow name")
    parser.add_argument("job", metavar="JOB", help="the job's id in ci.yaml")
    parser.add_argument("--as", dest="actor", metavar="NAME", help="who approves (default: $USER)")
    add_connection_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from knargo.functions.approvals import approve

    actor = f"{args.actor or os.environ.get('USER') or getpass.getuser()} (knargo approve)"
    with closing(connect(args)) as cluster:
        namespace = args.namespace or cluster.namespace or "ci"
        approved = approve(cluster, namespace, args.workflow, args.job, actor)
    if not approved:
        print(
            f'knargo approve: no job "{args.job}" of {namespace}/{args.workflow} waits for '
            "approval",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    print(f"approved {args.job} in {namespace}/{args.workflow}")
    return EXIT_OK
