"""The `ci.yaml` dialect (version 1): strict, frozen models, one docstring per field.

The docstrings become the descriptions of the JSON Schema (`knargo schema`). Checks that
need the platform's configuration (runner aliases, the secret catalog, allowed image
registries) read it from the validation context, so one pass over the file reports every
problem at once. `knargo.language.lint` composes the YAML and maps errors back to positions.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from knargo.config import catalog as secret_catalog
from knargo.formats.durations import DurationError, parse_duration
from knargo.formats.locate import quote_list, suggest, user_error
from knargo.language import conditions, cron, globs, matrix
from knargo.language.checkout import CheckoutKey

__all__ = [
    "Artifacts",
    "Cache",
    "CiConfig",
    "Job",
    "JobConcurrency",
    "Matrix",
    "PullRequestTrigger",
    "PushTrigger",
    "Retry",
    "Schedule",
    "Service",
    "Triggers",
    "ValidationContext",
]

JOB_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
JOB_ID_MAX = 100
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV_PREFIX = "KNARGO_"
# A container image reference: [registry[:port]/]path[:tag][@digest].
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?$"
)


class ValidationContext(BaseModel):
    """What the platform knows that the file does not: passed as pydantic's context."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    runners: frozenset[str] | None = None
    allowed_registries: tuple[str, ...] = ()


def _context(info: ValidationInfo) -> ValidationContext:
    return info.context if isinstance(info.context, ValidationContext) else ValidationContext()


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        populate_by_name=True,
    )


def _pattern(value: str) -> str:
    for problem in globs.check_patterns([value]):
        raise user_error("glob", f'invalid pattern "{value}": {problem.message}', problem.offset)
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Patterns = Annotated[
    list[Annotated[str, AfterValidator(_pattern)]],
    BeforeValidator(_as_list, json_schema_input_type=str | list[str]),
]


class PushTrigger(_Model):
    """Run on pushes of branches and tags. With neither `branches` nor `tags`, every push runs;
    with only one of them, only that kind of ref runs."""

    branches: Patterns | None = None
    """Branch name patterns (`main`, `release/**`, `!wip/*`)."""
    tags: Patterns | None = None
    """Tag name patterns (`v*`)."""
    paths: Patterns | None = None
    """Run only when a changed path matches (`src/**`, `!docs/**`)."""


class PullRequestTrigger(_Model):
    """Run on pull requests (opened, reopened, new commits pushed)."""

    branches: Patterns | None = None
    """Patterns for the pull request's target branch."""
    paths: Patterns | None = None
    """Run only when a changed path matches."""


class Schedule(_Model):
    """A schedule, in the 5-field cron syntax Kubernetes and Argo accept."""

    cron: str
    """`minute hour day-of-month month day-of-week`, or `@daily`, `@every 1h30m`, ..."""
    timezone: str | None = None
    """IANA time zone of the schedule (default UTC), e.g. `Europe/Berlin`."""
    name: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """A name for `if:` to tell schedules apart: `schedule == 'nightly'` (without one, the
    `schedule` variable holds the cron text)."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                cron.parse_standard("* * * * *", timezone=value)
            except cron.CronError as exc:
                raise user_error("timezone", exc.message) from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            cron.parse_standard(value, allow_tz_prefix=False)
            cron.check_argo_pattern(cron.normalize(value))
        except cron.CronError as exc:
            raise user_error("cron", f'invalid cron "{value}": {exc.message}', exc.offset) from None
        return cron.normalize(value)

    @property
    def label(self) -> str:
        """What `if:` sees in `schedule` when this entry fires: its name, else its cron."""
        return self.name if self.name is not None else self.cron


_EventName = Literal["push", "pull_request"]


def _triggers(value: Any) -> Any:
    """`on: push` and `on: [push, pull_request]` are short for mappings without filters; an
    empty `on:` would never run (a missing or null `on:` runs on every push and pull request)."""
    if value == [] or value == {}:
        raise user_error(
            "schema",
            '"on" names no event, so the pipeline would never run: name the events, or leave '
            '"on" out to run on every push and pull request',
        )
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value)
    return value


class Triggers(_Model):
    """Which events run the pipeline. Without `on:`, every push and pull request runs it."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    push: PushTrigger | None = None
    """Pushes of branches and tags."""
    pull_request: PullRequestTrigger | None = None
    """Pull (merge) requests."""
    schedule: list[Schedule] = []
    """Schedules; they run the default branch's latest version of this file."""

    @field_validator("push", "pull_request", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return {} if value is None else value


def _secrets(value: Any) -> Any:
    """`secrets: [NAME]` is short for `secrets: {NAME: NAME}`."""
    if isinstance(value, str):
        raise user_error(
            "secret",
            f'"secrets" must list secret names ([NAME] or {{ENV_NAME: NAME}}), not "{value}"'
            + (
                ": knargo has no inherit, list the secrets the job uses"
                if value == "inherit"
                else ""
            ),
        )
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {v: v for v in value}
    return value


def _retries(value: Any) -> Any:
    return {"limit": value} if isinstance(value, int) and not isinstance(value, bool) else value


def _needs(value: Any) -> Any:
    return _as_list(value)


def _env_name(value: str) -> str:
    if not ENV_NAME.match(value):
        raise user_error(
            "env", f'invalid environment variable name "{value}" ([A-Za-z_][A-Za-z0-9_]*)'
        )
    if value.upper().startswith(RESERVED_ENV_PREFIX):
        raise user_error("env", f'"{value}": the {RESERVED_ENV_PREFIX} prefix is reserved')
    return value


# A script travels base64-encoded in one environment variable, and Linux caps one at 128 KiB.
MAX_SCRIPT_BYTES = 64 * 1024


def _script_size(value: str) -> str:
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_SCRIPT_BYTES:
        raise user_error(
            "size",
            f"the script is {size:,} bytes, over the limit of "
            f"{MAX_SCRIPT_BYTES:,}; put it in a file in the repository and run that",
        )
    return value


def _env_value(value: str) -> str:
    if "\x00" in value:
        raise user_error("env", "an environment value cannot contain a NUL character")
    return value


def _secret_name(value: str) -> str:
    if not secret_catalog.SECRET_NAME.match(value):
        raise user_error("secret", f'invalid secret name "{value}" ([A-Z_][A-Z0-9_]*)')
    return value


EnvName = Annotated[
    str,
    AfterValidator(_env_name),
    WithJsonSchema({"type": "string", "pattern": ENV_NAME.pattern}),
]
# Numbers and booleans are accepted and kept exactly as written (`1.10`, `yes`).
EnvValue = Annotated[
    str,
    AfterValidator(_env_value),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
Env = dict[EnvName, EnvValue]


class Retry(_Model):
    """How often a failed job is tried again."""

    limit: Annotated[int, Field(ge=0, le=10)]
    """Retries after the first attempt (0-10)."""
    policy: Literal["always", "on-failure", "on-error", "on-transient-error"] = "always"
    """Which failures are retried: `always`, `on-failure` (the script failed),
    `on-error` (the pod failed), `on-transient-error` (Kubernetes/network hiccups)."""
    backoff: str = "10s"
    """Wait before the first retry; doubles for each further one."""

    @field_validator("backoff")
    @classmethod
    def _backoff(cls, value: str) -> str:
        return _check_duration(value)


def _check_duration(value: str) -> str:
    try:
        parse_duration(value)
    except DurationError as exc:
        raise user_error("duration", str(exc)) from None
    return value


# Artifacts and caches: files that outlive a job (see docs/ci-yaml.md, "Artifacts", "Caches").
MAX_EXPIRE_DAYS = 30
RESERVED_PATH = ".knargo-out"


def _file_path(value: str) -> str:
    """A path or shell glob relative to the checkout, as the job's shell expands it."""
    stripped = value.strip()
    parts = [p for p in stripped.removeprefix("./").rstrip("/").split("/") if p != "."]
    if (
        not stripped
        or stripped.startswith("/")
        or ".." in parts
        or not parts
        or "\n" in value
        or "\x00" in value
    ):
        raise user_error(
            "artifacts", f'invalid path "{value}" (a relative path inside the checkout)'
        )
    if "**" in value:
        raise user_error(
            "artifacts",
            f'"{value}": "**" is not supported (paths are expanded by the job\'s shell: '
            "use *, ? or [...], or name the directory, which is taken whole)",
        )
    if parts[0] in (".git", RESERVED_PATH):
        raise user_error("artifacts", f'"{value}": {parts[0]}/ cannot be kept')
    return value


FilePath = Annotated[str, AfterValidator(_file_path)]
FilePaths = Annotated[
    list[FilePath],
    BeforeValidator(_as_list, json_schema_input_type=str | list[str]),
    Field(min_length=1),
]


def _expire(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise user_error("expire", str(exc)) from None
    days, rest = divmod(seconds, 86_400)
    if rest or not 1 <= days <= MAX_EXPIRE_DAYS:
        raise user_error(
            "expire",
            f'invalid expire "{value}": whole days from 1d to {MAX_EXPIRE_DAYS}d '
            "(the artifact repository expires objects by day)",
        )
    return value


class Artifacts(_Model):
    """Files the job produces for the jobs that list it in their `needs`."""

    paths: FilePaths
    """Files or directories relative to the checkout (shell globs `*`, `?`, `[...]`);
    restored at the same paths in each job that needs this one, before its script starts."""
    expire: Annotated[str, AfterValidator(_expire)] = "7d"
    """How long the artifacts are kept: whole days, `1d` to `30d` (default `7d`)."""
    optional: bool = False
    """Whether a path that does not exist when the job ends is allowed; by default it
    fails the job, with the path named."""


def _cache_key(value: str) -> str:
    if not value.strip() or "\n" in value or "\x00" in value or len(value) > 200:
        raise user_error("cache", f'invalid cache key "{value}" (one line of 1 to 200 characters)')
    return value


class Cache(_Model):
    """Files kept between runs of the repository's pipelines, under a key."""

    key: Annotated[str, AfterValidator(_cache_key)]
    """The cache's name, e.g. `pip`; with `files`, their contents' hash is part of it."""
    files: FilePaths | None = None
    """Files whose contents make the key (`requirements.txt`, `poetry.lock`): a change
    of any of them is a miss, and the job then saves a fresh cache."""
    paths: FilePaths
    """Files or directories to restore before the script and save after it (`.venv`)."""


# `${{ matrix.<axis> }}` in an image or runner is checked per combination by lint, where
# the values are known.
def _checked_image(value: str, info: ValidationInfo) -> str:
    problem = image_problem(value, _context(info))
    if problem:
        raise user_error("image", problem)
    return value


def image_problem(value: str, context: ValidationContext) -> str | None:
    """What is wrong with an image reference, or None."""
    if matrix.REFERENCE.search(value):
        return None
    if not _IMAGE.match(value):
        return f'invalid image reference "{value}"'
    allowed = context.allowed_registries
    if allowed and not any(qualified_image(value).startswith(p) for p in allowed):
        return f'image "{value}" is not from an allowed registry ({quote_list(allowed)})'
    return None


def runner_problem(value: str, context: ValidationContext) -> str | None:
    """What is wrong with a runner alias, or None."""
    runners = context.runners
    if runners is None or value in runners or matrix.REFERENCE.search(value):
        return None
    return f'unknown runner "{value}" (configured: {quote_list(runners)}){suggest(value, runners)}'


def _axis(value: str) -> str:
    if not matrix.AXIS.match(value):
        raise user_error(
            "matrix",
            f'invalid matrix axis "{value}" (letters, digits, "_" and "-", '
            'starting with a letter or "_")',
        )
    return value


# Numbers and booleans are accepted and kept exactly as written (`3.10`), as env values are.
MatrixValue = Annotated[str, WithJsonSchema({"type": ["string", "number", "boolean"]})]
MatrixEntry = dict[Annotated[str, AfterValidator(_axis)], MatrixValue]


class Matrix(_Model):
    """Axes (any other key: a list of values), and GitHub Actions' `include` and `exclude`."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Annotated[list[MatrixValue], Field(min_length=1)]] = Field(
        init=False
    )

    include: list[MatrixEntry] = []
    """Combinations to extend (when they agree on the axes) or to add."""
    exclude: list[MatrixEntry] = []
    """Combinations to leave out: each entry removes those having all its values."""

    @property
    def axes(self) -> dict[str, list[str]]:
        return dict(self.__pydantic_extra__ or {})

    @property
    def combinations(self) -> list[matrix.Combination]:
        return matrix.combinations(self.axes, self.include, self.exclude)


SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
SERVICE_NAME_MAX = 40
# Argo's own containers and the job's checkout.
RESERVED_SERVICE_NAMES = frozenset({"main", "wait", "init", "checkout"})


def _service_name(value: str) -> str:
    if not SERVICE_NAME.match(value) or len(value) > SERVICE_NAME_MAX:
        raise user_error(
            "services",
            f'invalid service name "{value}" (lower-case letters, digits and "-", '
            f"starting with a letter, at most {SERVICE_NAME_MAX} characters)",
        )
    if value in RESERVED_SERVICE_NAMES:
        raise user_error(
            "services",
            f'"{value}" is a name of the job\'s own containers; '
            f"name the service otherwise (reserved: {quote_list(RESERVED_SERVICE_NAMES)})",
        )
    return value


ServiceName = Annotated[
    str,
    AfterValidator(_service_name),
    WithJsonSchema(
        {"type": "string", "pattern": SERVICE_NAME.pattern, "maxLength": SERVICE_NAME_MAX}
    ),
]


class Service(_Model):
    """A container beside the job (an Argo sidecar), sharing its network: `localhost`."""

    image: str
    """Container image, e.g. `postgres:16`."""
    env: Env = {}
    """Environment variables of the service (the job's `env` is not passed on)."""
    secrets: Annotated[
        dict[EnvName, Annotated[str, AfterValidator(_secret_name)]],
        BeforeValidator(_secrets, json_schema_input_type=list[str] | dict[str, str]),
    ] = {}
    """Secrets the service gets as environment variables (never the job's own)."""
    ports: list[
        Annotated[int, Field(ge=1, le=65535), BeforeValidator(_port, json_schema_input_type=int)]
    ] = []
    """TCP ports it listens on (on `localhost`, as the job sees it)."""
    command: Annotated[
        Annotated[str, Field(min_length=1)] | None,
        BeforeValidator(
            _readiness, json_schema_input_type=Annotated[str, Field(min_length=1)] | None
        ),
    ] = None
    """Readiness check, run in the service's container with `sh -c` until it succeeds, e.g.
    `pg_isready -U postgres`; without it the service is ready once its container started."""
    timeout: str = "2m"
    """How long the job waits for the service to be ready before it fails."""

    @field_validator("image")
    @classmethod
    def _image(cls, value: str, info: ValidationInfo) -> str:
        return _checked_image(value, info)

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        return _check_duration(value)

    @field_validator("env")
    @classmethod
    def _plain_env(cls, value: dict[str, str]) -> dict[str, str]:
        # A job's shell loads such values from a file; a service's own program would not.
        for name, text in value.items():
            if "{{" in text or "$(" in text or "$$" in text:
                raise user_error(
                    "env",
                    f'the value of "{name}" contains "{{{{", "$(" or "$$", which Argo or '
                    "Kubernetes would rewrite before the service sees it",
                )
        return value


def _service(value: Any) -> Any:
    return {"image": value} if isinstance(value, str) else value


def _port(value: Any) -> Any:
    if isinstance(value, str) and ":" in value:
        container = value.rsplit(":", 1)[1]
        raise user_error(
            "services",
            f'write the port the service listens on, {container}, not "{value}": the job '
            "reaches it on localhost, nothing is published",
        )
    return value


def _readiness(value: Any) -> Any:
    if isinstance(value, list):
        raise user_error(
            "services",
            '"command" is the readiness check, one shell command run until it succeeds '
            '(e.g. "pg_isready -U postgres"); a service always runs its image\'s own command',
        )
    return value


def _services(value: Any) -> Any:
    if isinstance(value, list):
        raise user_error(
            "services",
            '"services" must map names to services, e.g. {postgres: "postgres:16"}, '
            "not list them: the name is how the job and the statuses tell them apart",
        )
    return value


def _matrix(value: Any) -> Any:
    if isinstance(value, str):
        raise user_error(
            "matrix",
            '"matrix" must map axes to lists of values, e.g. {python: ["3.12", "3.13"]}; '
            "knargo has no matrices computed while the pipeline runs",
        )
    for key in ("fail-fast", "max-parallel"):
        if isinstance(value, dict) and key in value:
            raise user_error(
                "matrix",
                f'"{key}" is not an axis: GitHub Actions has it beside the matrix, in '
                '"strategy"; knargo runs every combination independently to its end '
                "(as fail-fast: false does) and as many at once as the cluster allows",
            )
    return value


# --- concurrency: which runs supersede each other ------------------------------------------

CONCURRENCY_VALUES = ("base_branch", "branch", "event", "pull_request", "ref", "tag")
"""The values a concurrency group may name as `${{ value }}` (knargo.language.concurrency)."""
_GROUP_VALUE = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _group(value: str) -> str:
    if not value.strip():
        raise user_error("concurrency", "a concurrency group cannot be empty")
    for found in _GROUP_VALUE.finditer(value):
        name = found[1]
        if name not in CONCURRENCY_VALUES:
            raise user_error(
                "concurrency",
                f'unknown value "{name}" in a concurrency group{suggest(name, CONCURRENCY_VALUES)}'
                f" (expected one of: {quote_list(CONCURRENCY_VALUES)})",
                found.start(1),
            )
    return value


class Concurrency(_Model):
    """Runs of one group supersede each other (by the forge's commit order)."""

    group: Annotated[str, AfterValidator(_group)]
    """The group's name; `${{ ref }}`, `${{ branch }}`, `${{ tag }}`, `${{ pull_request }}`
    (the number, empty for pushes), `${{ base_branch }}` and `${{ event }}` (push, tag or
    pull_request) are replaced by the event's values."""
    cancel_in_progress: bool = Field(default=False, alias="cancel-in-progress")
    """Whether a newer run terminates the runs of its group still in progress; without it,
    they run side by side."""


def _one_at_a_time(value: bool) -> bool:
    if value:
        raise user_error(
            "concurrency",
            "cancel-in-progress: true is not supported on a job: Argo can stop only a whole "
            "run, never one job of another run; to cancel older runs put concurrency: with "
            "cancel-in-progress: true at the top level of ci.yaml, or leave it false here "
            "so that the job waits for the group's job of the older run",
        )
    return value


class JobConcurrency(_Model):
    """Jobs of one group, across all runs of the repository, run one at a time."""

    group: Annotated[str, AfterValidator(_group)]
    """The group's name, with the same `${{ value }}`s as the top-level `concurrency.group`."""
    cancel_in_progress: Annotated[bool, AfterValidator(_one_at_a_time)] = Field(
        default=False, alias="cancel-in-progress"
    )
    """Only `false`: a job of the group waits until the group's running job has finished
    (a newer run cannot stop one job of an older run)."""


class Job(_Model):
    """One job: a script run in a container, in a checkout of the commit."""

    image: str
    """Container image the script runs in, e.g. `python:3.12`."""
    run: Annotated[str, AfterValidator(_script_size), Field(min_length=1)]
    """The script; run by `sh -e` (or `bash -eo pipefail` with `shell: bash`)."""
    shell: Literal["sh", "bash"] = "sh"
    """`sh` (default) or `bash`."""
    needs: Annotated[
        list[str], BeforeValidator(_needs, json_schema_input_type=str | list[str])
    ] = []
    """Jobs that must succeed before this one starts (or finish, with an `if:` that reads their
    results): an id or a list of ids."""
    env: Env = {}
    """Environment variables; values are strings exactly as written."""
    secrets: Annotated[
        dict[EnvName, Annotated[str, AfterValidator(_secret_name)]],
        BeforeValidator(_secrets, json_schema_input_type=list[str] | dict[str, str]),
    ] = {}
    """Secrets exposed as environment variables: `[NAME]` or `{ENV_VAR: NAME}`."""
    runner: str = "default"
    """Runner alias (pod resources, node selection) from the platform configuration."""
    timeout: str | None = None
    """Time limit for one attempt: `30m`, `1h30m` (default from the configuration)."""
    retries: Annotated[
        Retry | None, BeforeValidator(_retries, json_schema_input_type=int | Retry | None)
    ] = None
    """Retries: a number, or `{limit, policy, backoff}`."""
    continue_on_error: bool = Field(default=False, alias="continue-on-error")
    """Let dependent jobs run even if this one fails."""
    if_: str | None = Field(default=None, alias="if")
    """Run only when this condition holds, e.g. `event == 'tag'`, or `failure()` after a failed
    job (see docs/ci-yaml.md)."""
    working_directory: str | None = Field(default=None, alias="working-directory")
    """Directory, relative to the checkout, the script starts in."""
    checkout: CheckoutKey = None
    """`false` (no checkout: an empty workspace) or `{depth, tags, submodules}`; replaces
    the top-level `checkout`. Default: the commit alone."""
    artifacts: Artifacts | None = None
    """Files this job produces, restored in the jobs that list it in their `needs`."""
    cache: Cache | None = None
    """Files restored from the repository's cache before the script, and saved after a
    successful job when the key had no entry (never by a pull request from a fork)."""

    name: Annotated[str, Field(min_length=1)] | None = None
    """How the job is shown in commit statuses, e.g. `test on ${{ matrix.os }}` (default:
    its id; a matrix combination adds its values: `test (3.12, ubuntu)`)."""
    matrix: Annotated[
        Matrix | None, BeforeValidator(_matrix, json_schema_input_type=Matrix | None)
    ] = None
    """Run the job once per combination of values (axis: list of values), with GitHub
    Actions' `include` and `exclude`; see docs/ci-yaml.md."""
    services: Annotated[
        dict[
            ServiceName,
            Annotated[Service, BeforeValidator(_service, json_schema_input_type=str | Service)],
        ],
        BeforeValidator(_services),
    ] = {}
    """Containers running beside the job (a database, a cache), reachable on `localhost`;
    the script starts once every service is ready. `NAME: IMAGE` is short for
    `NAME: {image: IMAGE}`."""
    paths: Patterns | None = None
    """Run only when a changed path matches (`packages/api/**`); otherwise the job is left out
    and reported as skipped. Not for tags and schedules."""
    paths_ignore: Patterns | None = Field(default=None, alias="paths-ignore")
    """Leave the job out when every changed path matches (`docs/**`)."""
    approval: bool = False
    """Wait for a person's approval before the job starts: `/approve` in the pull request,
    or `knargo approve` (see docs/ci-yaml.md)."""
    environment: str | None = None
    """A deployment environment, e.g. `production`: the job waits for approval as with
    `approval: true`, and its status names the environment."""
    concurrency: JobConcurrency | None = None
    """Run one at a time with the jobs of the same group in every run of the repository,
    e.g. `{group: deploy-${{ branch }}}`: a newer run's job waits for the older one's."""

    @property
    def gated(self) -> bool:
        """Whether the job waits for approval."""
        return self.approval or self.environment is not None

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str | None) -> str | None:
        if value is not None and not _ENVIRONMENT.fullmatch(value):
            raise user_error(
                "environment",
                f'invalid environment "{value}" (letters, digits, ".", "_" and "-", '
                "at most 63, starting with a letter or digit)",
            )
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str, info: ValidationInfo) -> str:
        return _checked_image(value, info)

    @field_validator("runner")
    @classmethod
    def _runner(cls, value: str, info: ValidationInfo) -> str:
        problem = runner_problem(value, _context(info))
        if problem:
            raise user_error("runner", problem)
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise user_error(
                "duration", f'timeout {value} has no unit (e.g. "{value}m" or "{value}s")'
            )
        return _check_duration(value) if isinstance(value, str) else value

    @field_validator("if_")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                conditions.parse(value)
            except conditions.ConditionError as exc:
                raise user_error(
                    "expression", f"invalid condition: {exc.message}", exc.offset
                ) from None
        return value

    @field_validator("working_directory")
    @classmethod
    def _workdir(cls, value: str | None) -> str | None:
        if value is not None and (
            value.startswith("/") or ".." in value.split("/") or "{{" in value or not value.strip()
        ):
            raise user_error(
                "working-directory",
                f'invalid working directory "{value}" (a relative path inside the checkout)',
            )
        return value


def _job_id(value: str) -> str:
    if not JOB_ID.match(value):
        raise user_error(
            "job-id",
            f'invalid job id "{value}" (letters, digits, "_" and "-", '
            'starting with a letter or "_")',
        )
    if len(value) > JOB_ID_MAX:
        raise user_error("job-id", f"job id is longer than {JOB_ID_MAX} characters")
    return value


def _jobs(value: dict[str, Job]) -> dict[str, Job]:
    if not value:
        raise user_error("jobs", '"jobs" must define at least one job')
    return value


_ENVIRONMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class CiConfig(_Model):
    """A repository's pipeline: `ci.yaml`, version 1."""

    version: Literal[1] = 1
    """The dialect version; only 1 exists."""
    on: Annotated[
        Triggers | None,
        BeforeValidator(
            _triggers,
            json_schema_input_type=_EventName
            | Annotated[list[_EventName], Field(min_length=1)]
            | Triggers
            | None,
        ),
    ] = None
    """Events that run the pipeline; without it, every push and pull request."""
    env: Env = {}
    """Environment variables for every job; a job's own `env` overrides them."""
    jobs: Annotated[
        dict[
            Annotated[
                str,
                AfterValidator(_job_id),
                WithJsonSchema(
                    {"type": "string", "pattern": JOB_ID.pattern, "maxLength": JOB_ID_MAX}
                ),
            ],
            Job,
        ],
        AfterValidator(_jobs),
        Field(json_schema_extra={"minProperties": 1, "additionalProperties": False}),
    ]
    """The jobs, by id. Without `needs`, jobs run in parallel."""
    checkout: CheckoutKey = None
    """Every job's checkout unless it has its own: `false` or `{depth, tags, submodules}`."""
    concurrency: Concurrency | None = None
    """Which runs supersede each other. Without it, a pull request's newer run terminates
    its older ones, and other runs never cancel each other."""

    @property
    def triggers(self) -> Triggers:
        return (
            self.on
            if self.on is not None
            else Triggers(push=PushTrigger(), pull_request=PullRequestTrigger())
        )


def qualified_image(image: str) -> str:
    """`python:3.12` → `docker.io/library/python:3.12`, as container runtimes resolve it."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if rest else f"docker.io/library/{image}"
