"""The job spec: what to train, independent of where it runs.

``parse_job_spec`` is pure (it resolves paths but touches no file); ``check_local_inputs``
does the file-system checks a run needs before any side effect.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sagelift.config import Resolved
from sagelift.contract.hyperparameters import JSONValue, validate_hyperparameters
from sagelift.errors import SpecError, UnsupportedFeature

__all__ = [
    "DEFAULT_INTERVAL",
    "Channel",
    "EntryPoint",
    "InterruptionPlan",
    "JobKind",
    "JobSpec",
    "MetricDefinition",
    "check_checkpoint_location",
    "check_local_inputs",
    "is_remote_uri",
    "parse_duration",
    "parse_interrupt_times",
    "parse_job_spec",
    "validate_job_name",
]

EntryKind = Literal["script", "module", "command"]
#: ``script``: SageMaker script mode (the launcher is the entry point; hyperparameters JSON-encoded
#: and passed as arguments, ``sagemaker_*`` keys added). ``byo``: a bring-your-own image, run as
#: SageMaker runs one (``docker run IMAGE train``; plain-string hyperparameters, no arguments).
JobKind = Literal["script", "byo"]
#: The in-container contract of a script-mode job: which SDK generation's drivers it follows.
Contract = Literal["v2", "v3"]
#: What SageMaker runs in a bring-your-own image without an ENTRYPOINT, and what a ``byo`` job
#: runs locally when no ``entry_point`` is given.
BYO_DEFAULT_COMMAND = ("train",)
Dependencies = Literal["current", "isolated"]
OptMl = Literal["auto", "require", "off"]

# botocore: TrainingJobName pattern and length; ChannelName pattern and length.
JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
CHANNEL_RE = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
# S3 bucket naming rules (general purpose buckets).
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ENV_KEY_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,511}$")
# CreateTrainingJob.Environment: at most 100 entries, values at most 512 characters.
MAX_ENV_ENTRIES = 100
MAX_ENV_VALUE = 512
MAX_RUNTIME_LIMIT = 28 * 24 * 3600
SECRET_NAME_RE = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY)", re.I)
SECRET_NAMES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
LOCAL_INSTANCE_TYPES = frozenset({"local", "local_gpu"})
#: Channel names no user channel may take, on any backend: the code channel sagelift adds
#: (``sagelift.uploads.CODE_CHANNEL``), and the names that are not a directory of their own
#: under /opt/ml/input/data.
RESERVED_CHANNELS = frozenset({"sagelift-code", ".", ".."})


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryPoint:
    """What the job runs: a script under the source dir, a module, or a command (argv)."""

    kind: EntryKind
    argv: tuple[str, ...]

    @property
    def program(self) -> str | None:
        """The script path relative to the source dir (what ``sagemaker_program`` holds)."""
        return self.argv[0] if self.kind == "script" else None

    def launcher_arguments(self) -> list[str]:
        """How the launcher (``python -m sagelift.runtime``) is told to run this entry point;
        ``--command`` takes the rest of its command line, so these come last."""
        if self.kind == "script":
            return ["--program", self.argv[0]]
        if self.kind == "module":
            return ["--module", self.argv[0]]
        return ["--command", *self.argv]

    def describe(self) -> str:
        if self.kind == "module":
            return f"-m {self.argv[0]}"
        return shlex.join(self.argv)


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """An input channel: ``uri`` is an absolute local path or an ``s3://`` URI."""

    name: str
    uri: str
    content_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDefinition:
    name: str
    regex: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """Everything that defines a training job, backend-neutral."""

    project_dir: Path
    source_dir: Path
    entry_point: EntryPoint
    hyperparameters: Mapping[str, JSONValue] = field(default_factory=dict)
    channels: tuple[Channel, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    output_path: str
    checkpoint_path: str | None = None
    max_runtime: int = 86400
    stop_grace: int = 120
    base_job_name: str
    job_name: str | None = None
    instance_type: str = "local"
    instance_count: int = 1
    volume_size: int = 30
    dependencies: Dependencies = "current"
    requirements: Path | None = None
    opt_ml: OptMl = "auto"
    metric_definitions: tuple[MetricDefinition, ...] = ()
    exclude: tuple[str, ...] = ()
    spot: bool = False
    max_wait: int | None = None
    max_cost: float | None = None
    interruptions: tuple[float, ...] = ()
    kind: JobKind = "script"
    contract: Contract = "v2"

    @property
    def is_byo(self) -> bool:
        """A bring-your-own image job (``kind = "byo"``)."""
        return self.kind == "byo"

    @property
    def is_local(self) -> bool:
        return self.instance_type in LOCAL_INSTANCE_TYPES


def is_remote_uri(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def parse_job_spec(config: Resolved, project_dir: Path) -> JobSpec:
    """Build a JobSpec from resolved configuration. Pure: no file is read.

    Raises SpecError (exit 2) naming the offending key, with a hint.
    """
    project_dir = project_dir.absolute()
    source_dir = _path(config.get("source_dir"), project_dir, "source_dir")
    kind = _choice(config.get("kind", "script"), "kind", ("script", "byo"))
    raw_entry = config.get("entry_point")
    if kind == "byo" and raw_entry in (None, "", []):
        raw_entry = list(BYO_DEFAULT_COMMAND)
    entry = _relative_script(_entry_point(raw_entry, config.source("entry_point")), source_dir)
    hyperparameters = config.table("hyperparameters")
    validate_hyperparameters(hyperparameters)
    base = config.get("base_job_name") or _default_base_name(project_dir)
    job_name = config.get("job_name")
    if job_name is not None:
        validate_job_name(str(job_name), field_name="job_name")
    requirements = config.get("requirements")
    spec = JobSpec(
        project_dir=project_dir,
        source_dir=source_dir,
        entry_point=entry,
        hyperparameters=hyperparameters,
        channels=_channels(config.table("channels"), project_dir),
        environment=_environment(config.table("environment")),
        output_path=_location(config.get("output_path"), project_dir, "output_path"),
        checkpoint_path=(
            None
            if config.get("checkpoint_path") in (None, "")
            else _location(config.get("checkpoint_path"), project_dir, "checkpoint_path")
        ),
        max_runtime=_seconds(config.get("max_runtime"), "max_runtime", MAX_RUNTIME_LIMIT),
        stop_grace=_seconds(config.get("stop_grace"), "stop_grace", 3600, minimum=0),
        base_job_name=_base_name(str(base)),
        job_name=None if job_name is None else str(job_name),
        instance_type=_instance_type(config.get("instance_type")),
        instance_count=_int(config.get("instance_count"), "instance_count", 1, 100),
        volume_size=_int(config.get("volume_size"), "volume_size", 1, 16384),
        dependencies=_choice(config.get("dependencies"), "dependencies", ("current", "isolated")),
        requirements=None
        if requirements is None
        else _path(requirements, project_dir, "requirements"),
        opt_ml=_choice(config.get("opt_ml"), "opt_ml", ("auto", "require", "off")),
        metric_definitions=tuple(
            MetricDefinition(name=name, regex=_regex(regex, f"metrics.{name}"))
            for name, regex in sorted(config.table("metrics").items())
        ),
        exclude=tuple(_str_list(config.get("exclude", []), "exclude")),
        spot=_bool(config.get("spot"), "spot"),
        max_wait=None
        if config.get("max_wait") in (None, "")
        else _seconds(config.get("max_wait"), "max_wait", MAX_RUNTIME_LIMIT),
        max_cost=_cost(config.get("max_cost")),
        interruptions=_interruptions(
            config.get("simulate_interruptions"), config.get("interrupt_at")
        ),
        kind=kind,
        contract=_choice(config.get("contract", "v2"), "contract", ("v2", "v3")),
    )
    if spec.max_wait is not None and not spec.spot:
        raise SpecError(
            "max_wait only applies to spot training",
            hint="add --spot (spot = true), or drop max_wait",
            field="max_wait",
        )
    if spec.spot and spec.max_wait is not None and spec.max_wait < spec.max_runtime:
        raise SpecError(
            f"max_wait ({spec.max_wait} s) must be at least max_runtime ({spec.max_runtime} s)",
            hint="SageMaker counts the wait for spot capacity plus the run in max_wait; raise it",
            field="max_wait",
        )
    if spec.spot and spec.is_local:
        raise UnsupportedFeature(
            "spot instances exist only on SageMaker; a local job cannot be a spot job",
            hint="rehearse interruptions locally with --simulate-interruptions N, "
            "or pick an ml.* instance type",
        )
    if spec.is_local and spec.instance_count != 1:
        raise UnsupportedFeature(
            f"instance_count={spec.instance_count} needs several machines; a local job has one",
            hint="use instance_count = 1 locally, or an ml.* instance type on SageMaker",
        )
    return spec


def check_local_inputs(spec: JobSpec) -> None:
    """File-system checks before anything is created: entry point, source dir, channels,
    checkpoint location.

    Raises SpecError with a hint; never writes anything.
    """
    if not spec.source_dir.is_dir():
        raise SpecError(
            f"source_dir: '{spec.source_dir}' is not a directory",
            hint="point source_dir at your project's code directory",
            field="source_dir",
        )
    if spec.entry_point.kind == "script":
        program = spec.entry_point.argv[0]
        path = (spec.source_dir / program).resolve()
        if not path.is_relative_to(spec.source_dir.resolve()):
            raise SpecError(
                f"entry_point: '{program}' is outside the source dir '{spec.source_dir}'",
                hint="move the script into the source dir or set source_dir to a parent of it",
                field="entry_point",
            )
        if not path.is_file():
            raise SpecError(
                f"entry_point: '{program}' not found in '{spec.source_dir}'",
                hint="give the script's path relative to source_dir (e.g. train.py)",
                field="entry_point",
            )
        if not os.access(path, os.R_OK):
            raise SpecError(
                f"entry_point: '{path}' is not readable",
                hint=f"chmod u+r {path}",
                field="entry_point",
            )
        if not program.endswith((".py", ".sh")) and not os.access(path, os.X_OK):
            raise SpecError(
                f"entry_point: '{program}' is neither .py nor .sh and is not executable",
                hint=f"chmod +x {program}, or name it .py or .sh",
                field="entry_point",
            )
    for channel in spec.channels:
        if is_remote_uri(channel.uri):
            continue
        if not Path(channel.uri).exists():
            raise SpecError(
                f"channels.{channel.name}: '{channel.uri}' does not exist",
                hint="create it, fix the path, or pass s3://bucket/prefix",
                field=f"channels.{channel.name}",
            )
    if spec.requirements is not None and not spec.requirements.is_file():
        raise SpecError(
            f"requirements: '{spec.requirements}' does not exist",
            hint="point requirements at your requirements.txt",
            field="requirements",
        )
    check_checkpoint_location(spec)


def check_checkpoint_location(spec: JobSpec) -> None:
    """A local ``checkpoint_path`` must be a directory of its own, because sagelift restores
    everything in it and writes into it.

    Refused (SpecError): an existing non-directory; a path that is or contains the project or
    source dir (a subdirectory of them is fine); a path that is, contains or is inside
    ``.sagelift``, a local channel or a local output path. Symlinks are resolved first.
    Never writes anything.
    """
    if spec.checkpoint_path is None or is_remote_uri(spec.checkpoint_path):
        return
    where = Path(spec.checkpoint_path).resolve()
    if where.exists() and not where.is_dir():
        raise SpecError(
            f"checkpoint_path: '{spec.checkpoint_path}' is a file, not a directory",
            hint="point checkpoint_path at a directory of its own, e.g. checkpoints",
            field="checkpoint_path",
        )
    # (what, path, whether checkpoint_path may lie inside it)
    guarded: list[tuple[str, Path, bool]] = [
        ("the project directory", spec.project_dir, True),
        ("the source directory", spec.source_dir, True),
        ("sagelift's job records", spec.project_dir / ".sagelift", False),
    ]
    guarded += [
        (f"channel '{c.name}'", Path(c.uri), False)
        for c in spec.channels
        if not is_remote_uri(c.uri)
    ]
    if not is_remote_uri(spec.output_path):
        guarded.append(("output_path", Path(spec.output_path), False))
    for what, path, inside_ok in guarded:
        other = path.resolve()
        if other.is_relative_to(where) or (not inside_ok and where.is_relative_to(other)):
            raise SpecError(
                f"checkpoint_path: '{spec.checkpoint_path}' overlaps {what} ('{path}'); "
                "checkpoints need a directory of their own",
                hint="use a dedicated directory such as checkpoint_path = 'checkpoints', "
                "or s3://bucket/prefix",
                field="checkpoint_path",
            )


def validate_job_name(name: str, *, field_name: str = "job_name") -> None:
    if not JOB_NAME_RE.match(name):
        raise SpecError(
            f"{field_name}: '{name}' is not a valid SageMaker job name",
            hint="use 1-63 letters, digits and hyphens, starting and ending with a letter or digit",
            field=field_name,
        )


def parse_duration(value: Any, field_name: str) -> int:
    """Seconds from an int or a string like '90', '90s', '15m', '2h', '1d'."""
    if isinstance(value, bool):
        raise _bad_duration(value, field_name)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", value)
        if match:
            unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
            return int(match.group(1)) * unit
    raise _bad_duration(value, field_name)


def _bad_duration(value: Any, field_name: str) -> SpecError:
    return SpecError(
        f"{field_name}: {value!r} is not a duration",
        hint="use seconds (3600) or a duration such as '90m', '2h', '1d'",
        field=field_name,
    )


def _seconds(value: Any, field_name: str, maximum: int, *, minimum: int = 1) -> int:
    seconds = parse_duration(value, field_name)
    if not minimum <= seconds <= maximum:
        raise SpecError(
            f"{field_name}: {seconds} s is outside {minimum}..{maximum} s",
            hint=f"pick a value between {minimum} and {maximum} seconds",
            field=field_name,
        )
    return seconds


def _entry_point(value: Any, source: str | None) -> EntryPoint:
    if value is None or value == "" or value == []:
        raise SpecError(
            "no entry point given",
            hint="pass one (sagelift run train.py) or set entry_point in sagelift.toml",
            field="entry_point",
        )
    if isinstance(value, list):
        argv = _str_list(value, "entry_point")
        if not argv:
            raise SpecError("entry_point: empty command", hint=None, field="entry_point")
        return EntryPoint(kind="command", argv=tuple(argv))
    if not isinstance(value, str):
        raise SpecError(
            f"entry_point: expected a string or a list, got {type(value).__name__}",
            hint='e.g. entry_point = "train.py", "-m pkg.train" or ["bash", "run.sh"]',
            field="entry_point",
        )
    text = value.strip()
    if text.startswith("-m "):
        module = text[3:].strip()
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", module):
            raise SpecError(
                f"entry_point: '{module}' is not a module name",
                hint="use dotted Python names, e.g. -m mypkg.train",
                field="entry_point",
            )
        return EntryPoint(kind="module", argv=(module,))
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise SpecError(
            f"entry_point: cannot split {text!r} into words: {str(exc).lower()}",
            hint="close the quote, or give the command as a list: "
            'entry_point = ["python", "train.py"]',
            field="entry_point",
        ) from exc
    if not parts:
        raise SpecError(
            "entry_point: empty command", hint="give a script or a command", field="entry_point"
        )
    if len(parts) == 1 and not parts[0].startswith("-"):
        return EntryPoint(kind="script", argv=(parts[0],))
    return EntryPoint(kind="command", argv=tuple(parts))


def _relative_script(entry: EntryPoint, source_dir: Path) -> EntryPoint:
    """A script path normalised relative to the source dir, refused when it leaves it."""
    if entry.kind != "script":
        return entry
    program = entry.argv[0]
    full = Path(os.path.normpath(source_dir / program))
    if not full.is_relative_to(source_dir):
        raise SpecError(
            f"entry_point: '{program}' is outside the source dir '{source_dir}'",
            hint="move the script into the source dir or set source_dir to a parent of it",
            field="entry_point",
        )
    return EntryPoint(kind="script", argv=(full.relative_to(source_dir).as_posix(),))


def _channels(table: Mapping[str, Any], project_dir: Path) -> tuple[Channel, ...]:
    channels = []
    for name, value in sorted(table.items()):
        key = f"channels.{name}"
        if not CHANNEL_RE.match(name):
            raise SpecError(
                f"{key}: '{name}' is not a valid channel name",
                hint="use 1-64 letters, digits, '.', '-' or '_'",
                field=key,
            )
        if name in RESERVED_CHANNELS:
            raise SpecError(
                f"{key}: the channel name '{name}' is reserved"
                + (" for the job's code" if name.startswith("sagelift") else ""),
                hint="rename the channel (e.g. train, validation, data)",
                field=key,
            )
        content_type = None
        if isinstance(value, Mapping):
            content_type = value.get("content_type")
            value = value.get("path", value.get("uri"))
        channels.append(
            Channel(
                name=name,
                uri=_location(value, project_dir, key),
                content_type=None if content_type is None else str(content_type),
            )
        )
    if len(channels) > 20:
        raise SpecError(
            f"channels: {len(channels)} channels, SageMaker allows at most 20",
            hint="merge channels into one directory with sub-directories",
            field="channels",
        )
    return tuple(channels)


def _environment(table: Mapping[str, Any]) -> dict[str, str]:
    if len(table) > MAX_ENV_ENTRIES:
        raise SpecError(
            f"environment: {len(table)} variables, SageMaker allows at most {MAX_ENV_ENTRIES}",
            hint="move configuration into a config file shipped with the code",
            field="environment",
        )
    env: dict[str, str] = {}
    for key, value in table.items():
        where = f"environment.{key}"
        if not ENV_KEY_RE.match(key):
            raise SpecError(
                f"{where}: invalid variable name", hint="use [A-Za-z_][A-Za-z0-9_]*", field=where
            )
        if key in SECRET_NAMES or SECRET_NAME_RE.search(key):
            raise SpecError(
                f"{where}: looks like a secret; job environments are visible in the job's "
                "description and records",
                hint="give the job an IAM role or read the secret at run time from a secrets store",
                field=where,
            )
        if isinstance(value, (dict, list)) or value is None:
            raise SpecError(f"{where}: must be a string", hint="quote the value", field=where)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > MAX_ENV_VALUE:
            raise SpecError(
                f"{where}: value is {len(text)} characters, at most {MAX_ENV_VALUE} are allowed",
                hint="ship long values in a file with the code",
                field=where,
            )
        env[key] = text
    return env


def _location(value: Any, project_dir: Path, field_name: str) -> str:
    """A URI (``s3://…``) unchanged, or a local path made absolute against the project."""
    text = _str(value, field_name)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        if scheme != "s3":
            raise SpecError(
                f"{field_name}: unsupported scheme '{scheme}://'",
                hint="use a local path or s3://bucket/prefix",
                field=field_name,
            )
        bucket = text[len("s3://") :].split("/", 1)[0]
        if not S3_BUCKET_RE.match(bucket):
            raise SpecError(
                f"{field_name}: {text!r} does not name a valid S3 bucket",
                hint="use s3://bucket/prefix with a bucket of 3-63 lowercase letters, digits, "
                "'.' and '-'",
                field=field_name,
            )
        return text
    return str((project_dir / Path(text).expanduser()).absolute())


def _path(value: Any, project_dir: Path, field_name: str) -> Path:
    return (project_dir / Path(_str(value, field_name)).expanduser()).absolute()


def _str(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(
            f"{field_name}: expected a non-empty string, got {value!r}",
            hint="quote it in TOML",
            field=field_name,
        )
    return value


def _instance_type(value: Any) -> str:
    """'local', 'local_gpu' or an ml.* type (checked against SageMaker's list by its backend)."""
    text = _str(value, "instance_type")
    if text in LOCAL_INSTANCE_TYPES or text.startswith("ml."):
        return text
    close = difflib.get_close_matches(text.lower(), sorted(LOCAL_INSTANCE_TYPES), n=1, cutoff=0.6)
    guess = close[0] if close else None
    raise SpecError(
        f"instance_type: {text!r} is neither 'local', 'local_gpu' nor an ml.* instance type",
        hint=(f"did you mean '{guess}'? " if guess else "")
        + "use local (this machine) or e.g. ml.m5.xlarge (SageMaker)",
        field="instance_type",
    )


def _regex(value: Any, field_name: str) -> str:
    """A metric regex: it must compile, since each output line is matched against it."""
    text = _str(value, field_name)
    try:
        re.compile(text)
    except re.error as exc:
        raise SpecError(
            f"{field_name}: {text!r} is not a valid regular expression ({exc})",
            hint="fix the pattern; its first group captures the value, e.g. 'loss=([0-9.]+)'",
            field=field_name,
        ) from exc
    return text


def _str_list(value: Any, field_name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(
            f"{field_name}: expected a list of strings",
            hint='e.g. ["a", "b"]',
            field=field_name,
        )
    return list(value)


def _int(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(
            f"{field_name}: expected an integer in {low}..{high}, got {value!r}",
            hint=None,
            field=field_name,
        )
    return value


#: Seconds into each attempt when no times are given.
DEFAULT_INTERVAL = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptionPlan:
    """Interrupt each attempt ``after[i]`` seconds after it starts training, then let it finish."""

    after: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.after)


def parse_interrupt_times(count: int, at: str | None, default_interval: float) -> InterruptionPlan:
    """``--simulate-interruptions N`` with ``--interrupt-at 5,12`` (seconds into each attempt).

    Without ``at`` every attempt is interrupted ``default_interval`` seconds in.
    Raises ValueError on a malformed or mismatched list.
    """
    if count < 0:
        raise ValueError("the number of interruptions cannot be negative")
    if at is None:
        return InterruptionPlan(after=(default_interval,) * count)
    times = tuple(float(part) for part in at.split(",") if part.strip())
    if any(t <= 0 for t in times):
        raise ValueError("interruption times must be positive seconds")
    if count and len(times) != count:
        raise ValueError(f"{count} interruptions but {len(times)} times given")
    return InterruptionPlan(after=times)


def _interruptions(count: Any, at: Any) -> tuple[float, ...]:
    if count in (None, 0) and at in (None, ""):
        return ()
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise SpecError(
            f"simulate_interruptions: expected a number of interruptions, got {count!r}",
            hint="e.g. --simulate-interruptions 2",
            field="simulate_interruptions",
        )
    text = ",".join(str(v) for v in at) if isinstance(at, list) else at
    try:
        plan = parse_interrupt_times(
            count or 0, None if text in (None, "") else str(text), DEFAULT_INTERVAL
        )
    except ValueError as exc:
        raise SpecError(
            f"interrupt_at: {exc}",
            hint="give one time in seconds per interruption, e.g. --interrupt-at 5,12",
            field="interrupt_at",
        ) from exc
    return plan.after


def _bool(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(
            f"{field_name}: expected true or false, got {value!r}", hint=None, field=field_name
        )
    return value


def _cost(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise SpecError(
            f"max_cost: expected a finite, positive amount in USD, got {value!r}",
            hint="e.g. max_cost = 25",
            field="max_cost",
        )
    return float(value)


def _choice(value: Any, field_name: str, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise SpecError(
            f"{field_name}: {value!r} is not one of {', '.join(choices)}",
            hint=f"set {field_name} to one of: {', '.join(choices)}",
            field=field_name,
        )
    return value


def _default_base_name(project_dir: Path) -> str:
    return _base_name(project_dir.name or "job", strict=False)


def _base_name(name: str, *, strict: bool = True) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40].strip("-")
    if strict and cleaned != name:
        raise SpecError(
            f"base_job_name: '{name}' may only use letters, digits and hyphens",
            hint=f"use '{cleaned or 'job'}'",
            field="base_job_name",
        )
    return cleaned or "job"
