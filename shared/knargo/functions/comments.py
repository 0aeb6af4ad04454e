"""What `generate` does with a pull request comment: commands, authorization, the reply.

A comment without a command (`knargo.functions.commands`) does nothing and costs no API
call. Otherwise the author's permission is asked from the forge (`Conversation.can_write`:
GitHub write, maintain or admin; GitLab Developer or more; Gitea write or more); someone
without it gets one reply comment that says why, and nothing runs. An authorized comment's
commands run in order against the pull request's head *as the forge shows it now*:

* `/retest` plans the pipeline again for the head commit as a new run: the run's delivery id
  is derived from the comment's delivery and the command, so a new comment gives a new
  Workflow (with new statuses) and a redelivered comment the same one (409, no second run);
* `/retest <job>` does the same with only that job and the jobs that need it;
* `/cancel` terminates every unfinished run of the pull request (`spec.shutdown: Terminate`,
  what `argo terminate` sets); report then posts their statuses as cancelled;
* `/approve [<job>]` resumes the pull request's jobs that wait for approval (all, or the one
  named), as `argo resume` does (knargo.functions.approvals);
* `/ok-to-test [<sha>]` approves a fork's head commit, pinned to the commit the argument (or
  GitLab's payload) names, and runs it with secrets (`GitEvent.approved_by`).

Every handled comment is acknowledged by one reply comment that names what was done, and
at most one: a comment whose reply is on the forge already (found by the reply's marker
among the pull request's newest comments) is a redelivery and does nothing. Replies
are built from knargo's own words, job ids, Workflow names and commit ids only: never from an
error's text, a file's content or a credential.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from knargo.config.catalog import SecretCatalog
from knargo.config.settings import Settings
from knargo.contract import events
from knargo.contract.errors import PermanentError
from knargo.contract.events import CommentEvent, EventKind, ForgeKind, GitEvent
from knargo.forges import PullHead
from knargo.formats import naming
from knargo.functions.approvals import approve
from knargo.functions.commands import Command, parse_commands
from knargo.functions.generate import Files, Reply, Workflows, generate
from knargo.functions.superseding import UNFINISHED, terminate
from knargo.translation.concurrency import pull_request_selector

__all__ = ["Conversation", "Handled", "handle_comment", "run_event"]

_SHA = re.compile(r"[0-9a-f]{7,40}")
WRITE_ACCESS = {
    ForgeKind.GITHUB: "write, maintain or admin permission",
    ForgeKind.GITLAB: "the Developer role or a higher one",
    ForgeKind.GITEA: "write, admin or owner permission",
}


class Conversation(Protocol):
    def can_write(self, comment: CommentEvent) -> bool: ...

    def pull_head(self, comment: CommentEvent) -> PullHead: ...

    def reply(self, comment: CommentEvent, text: str) -> None: ...

    def replied(self, comment: CommentEvent, marker: str) -> bool: ...


@dataclass(frozen=True)
class Handled:
    """What a comment did: `reply` is the pipeline reply for report (from a `/retest`)."""

    outcome: str
    """`no-command`, `answered` (a redelivered comment knargo replied to), `refused` or
    `done`."""
    commands: list[str] = field(default_factory=list)
    reply: Reply | None = None
    answer: str = ""
    """The reply comment posted, if any."""


def handle_comment(
    comment: CommentEvent,
    settings: Settings,
    catalog: SecretCatalog | None,
    files: Files,
    cluster: Workflows,
    conversation: Conversation,
) -> Handled:
    commands = parse_commands(comment.body)
    names = [str(command) for command in commands]
    if not commands:
        return Handled("no-command")
    if conversation.replied(comment, _marker(comment).strip()):
        return Handled("answered", names)  # a redelivery: its reply is on the forge
    if not conversation.can_write(comment):
        answer = _refusal(comment, names)
        conversation.reply(comment, answer)
        return Handled("refused", names, answer=answer)
    head = conversation.pull_head(comment)
    lines: list[str] = []
    reply: Reply | None = None
    if not head.open:
        lines.append(f"{', '.join(names)}: the pull request is closed, nothing runs.")
    else:
        for command in commands:
            if command.name == "cancel":
                lines.append(_cancel(comment, settings, cluster))
            elif command.name == "approve":
                lines.append(_approve(comment, command, settings, cluster))
            elif command.name == "ok-to-test":
                line, approved = _ok_to_test(comment, head, command, settings)
                if approved is not None:
                    done = generate(approved, settings, catalog, files, cluster)
                    reply = done if done.type != events.PIPELINE_SKIPPED else reply
                    line += " " + _retested(command, done, head)
                lines.append(line)
            else:
                event = run_event(comment, head, command)
                done = generate(event, settings, catalog, files, cluster, job=command.argument)
                reply = done if done.type != events.PIPELINE_SKIPPED else reply
                lines.append(_retested(command, done, head))
    answer = _acknowledgement(comment, lines)
    conversation.reply(comment, answer)
    return Handled("done", names, reply, answer)


def run_event(comment: CommentEvent, head: PullHead, command: Command) -> GitEvent:
    """The pull request event a command runs: the head commit at the time of the comment."""
    same_repository = None if head.fork else comment.repository
    return GitEvent(
        forge_kind=comment.forge_kind,
        forge_name=comment.forge_name,
        repository=comment.repository,
        repository_url=comment.repository_url,
        clone_url=comment.clone_url,
        default_branch=comment.default_branch,
        private=comment.private,
        kind=EventKind.PULL_REQUEST,
        ref=head.ref,
        sha=head.sha,
        pr_number=comment.pr_number,
        base_ref=head.base_ref,
        head_repository=head.head_repository or same_repository,
        fork=head.fork,
        sender=comment.author,
        delivery_id="comment-" + naming.digest(comment.delivery_id, str(command), length=24),
        traceparent=comment.traceparent,
        received_at=comment.received_at,
        installation_id=comment.installation_id,
    )


def _ok_to_test(
    comment: CommentEvent, head: PullHead, command: Command, settings: Settings
) -> tuple[str, GitEvent | None]:
    """The approved run of a fork's head commit, pinned: to the commit the argument names,
    else to the head the payload shows (GitLab), else to the head the forge shows now."""
    if not head.fork:
        return f"`{command}`: not a pull request from a fork, nothing to approve.", None
    if settings.fork_pull_requests == "skip":
        return f"`{command}`: pull requests from forks are not run here.", None
    pinned = (command.argument or comment.head_sha or "").lower()
    if command.argument is not None and not _SHA.fullmatch(pinned):
        return f"`{command}`: name the commit to approve by 7 to 40 hex digits.", None
    if pinned and not head.sha.lower().startswith(pinned):
        return (
            f"`{command}`: the head is now {head.sha[:7]}, not {pinned[:7]}: nothing runs; "
            "approve the new head after reviewing it.",
            None,
        )
    event = run_event(comment, head, command).model_copy(update={"approved_by": comment.author})
    return f"`{command}`: approved {head.sha[:7]}, with secrets.", event


def _approve(
    comment: CommentEvent, command: Command, settings: Settings, cluster: Workflows
) -> str:
    """Resume the waiting gates of the pull request's unfinished runs (of one job, if named)."""
    selector = pull_request_selector(comment.forge_name, comment.repository, comment.pr_number)
    approved: list[str] = []
    for run in cluster.list_workflows(settings.namespace, selector):
        name = (run.get("metadata") or {}).get("name", "")
        if ((run.get("status") or {}).get("phase") or "") not in UNFINISHED:
            continue
        try:
            jobs = approve(cluster, settings.namespace, name, command.argument, comment.author)
        except PermanentError:
            return f"`{command}`: `{name}` changed meanwhile; nothing was approved."
        approved += [f"`{job}` in `{name}`" for job in jobs]
    if not approved:
        which = f' named "{command.argument}"' if command.argument else ""
        return f"`{command}`: no job{which} of this pull request waits for approval."
    return f"`{command}`: approved {', '.join(approved)}."


def _cancel(comment: CommentEvent, settings: Settings, cluster: Workflows) -> str:
    selector = pull_request_selector(comment.forge_name, comment.repository, comment.pr_number)
    runs = cluster.list_workflows(settings.namespace, selector)
    reason = f"cancelled by /cancel from {comment.author}"
    stopped = terminate(cluster, settings.namespace, runs, reason)
    if not stopped:
        return "`/cancel`: no run of this pull request is in progress."
    return f"`/cancel`: terminated {', '.join(f'`{name}`' for name in stopped)}."


def _retested(command: Command, done: Reply, head: PullHead) -> str:
    sha = head.sha[:7]
    data = done.data
    if isinstance(data, events.PipelineSubmitted):
        jobs = ", ".join(f"`{job.id}`" for job in data.jobs)
        verb = "started" if data.created else "already started"
        return f"`{command}`: {verb} `{data.workflow}` for {sha} ({jobs})."
    if isinstance(data, events.PipelineRejected):
        return f"`{command}`: the pipeline of {sha} cannot run; its commit status says why."
    reason = data.reason if isinstance(data, events.PipelineSkipped) else "nothing to run"
    return f"`{command}`: nothing runs for {sha}: {reason}."


def _refusal(comment: CommentEvent, names: list[str]) -> str:
    needed = WRITE_ACCESS[comment.forge_kind]
    return (
        f"@{comment.author}: {', '.join(f'`{name}`' for name in names)} not run: commands "
        f"need {needed} in {comment.repository}.{_marker(comment)}"
    )


def _acknowledgement(comment: CommentEvent, lines: list[str]) -> str:
    body = "\n".join(f"- {line}" for line in lines)
    return f"@{comment.author}:\n{body}{_marker(comment)}"


def _marker(comment: CommentEvent) -> str:
    """An invisible mark that ties a reply to the comment it answers."""
    return f"\n<!-- knargo: reply to comment {comment.comment_id} -->"
