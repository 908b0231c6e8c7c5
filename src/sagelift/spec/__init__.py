"""The job spec: what to train, independent of where it runs.

``parse_job_spec`` is pure (it resolves paths but touches no file); the file-system checks a
run needs before any side effect are ``sagelift.preflight.check_local_inputs``.

The parts live beside this module: ``entry`` (the entry point), ``channels`` (input channels),
``distribution``, ``environment``, ``interruptions`` (simulated spot interruptions) and
``values`` (the small value parsers); every public name is importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sagelift.config import Resolved
from sagelift.contract.distribution import Distribution
from sagelift.contract.hyperparameters import JSONValue, validate_hyperparameters
from sagelift.errors import SpecError, UnsupportedFeature
from sagelift.spec.channels import CHANNEL_KEYS as CHANNEL_KEYS
from sagelift.spec.channels import CHANNEL_RE as CHANNEL_RE
from sagelift.spec.channels import (
    COMPRESSIONS,
    INPUT_MODES,
    RECORD_WRAPPERS,
    S3_DATA_TYPES,
    Channel,
    _channels,
)
from sagelift.spec.channels import RESERVED_CHANNELS as RESERVED_CHANNELS
from sagelift.spec.distribution import _distribution
from sagelift.spec.entry import EntryKind as EntryKind
from sagelift.spec.entry import EntryPoint, _entry_point, _relative_script
from sagelift.spec.environment import ENV_KEY_RE as ENV_KEY_RE
from sagelift.spec.environment import MAX_ENV_ENTRIES as MAX_ENV_ENTRIES
from sagelift.spec.environment import MAX_ENV_VALUE as MAX_ENV_VALUE
from sagelift.spec.environment import SECRET_NAME_RE as SECRET_NAME_RE
from sagelift.spec.environment import SECRET_NAMES as SECRET_NAMES
from sagelift.spec.environment import _environment
from sagelift.spec.interruptions import (
    DEFAULT_INTERVAL,
    InterruptionPlan,
    _interruptions,
    parse_interrupt_times,
)
from sagelift.spec.values import JOB_NAME_RE as JOB_NAME_RE
from sagelift.spec.values import (
    LOCAL_INSTANCE_TYPES,
    _base_name,
    _bool,
    _choice,
    _cost,
    _default_base_name,
    _instance_type,
    _int,
    _location,
    _path,
    _regex,
    _seconds,
    _str_list,
    is_remote_uri,
    parse_duration,
    validate_job_name,
)
from sagelift.spec.values import S3_BUCKET_RE as S3_BUCKET_RE

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_INTERVAL",
    "INPUT_MODES",
    "RECORD_WRAPPERS",
    "S3_DATA_TYPES",
    "Channel",
    "EntryPoint",
    "InterruptionPlan",
    "JobKind",
    "JobSpec",
    "MetricDefinition",
    "is_remote_uri",
    "parse_duration",
    "parse_interrupt_times",
    "parse_job_spec",
    "validate_job_name",
]

#: ``script``: SageMaker script mode (the launcher is the entry point; hyperparameters JSON-encoded
#: and passed as arguments, ``sagemaker_*`` keys added). ``byo``: a bring-your-own image, run as
#: SageMaker runs one (``docker run IMAGE train``; plain-string hyperparameters, no arguments).
#: ``framework``: a prebuilt framework image run as the SDK's framework estimators run it (the
#: image's own entry point, the sagemaker-training toolkit, runs ``sagemaker_program`` from
#: ``sourcedir.tar.gz``); chosen by default when ``image.framework`` is set.
JobKind = Literal["script", "byo", "framework"]
JOB_KINDS: tuple[str, ...] = ("script", "byo", "framework")
#: The in-container contract of a script-mode job: which SDK generation's drivers it follows.
Contract = Literal["v2", "v3"]
#: What SageMaker runs in a bring-your-own image without an ENTRYPOINT, and what a ``byo`` job
#: runs locally when no ``entry_point`` is given.
BYO_DEFAULT_COMMAND = ("train",)
#: ``auto`` (the framework kind's default): this environment when it satisfies the requirements
#: file, else a cached environment laid over it, as the training toolkit installs
#: ``requirements.txt`` over the framework's own packages.
Dependencies = Literal["current", "isolated", "auto"]
OptMl = Literal["auto", "require", "off"]
MAX_RUNTIME_LIMIT = 28 * 24 * 3600


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
    distribution: Distribution | None = None
    #: A SageMaker built-in algorithm (``sagelift.algorithms``) run instead of the user's code:
    #: then ``kind`` is ``byo`` (SageMaker runs the algorithm's image as the generic Estimator
    #: does) and ``entry_point`` is the local runner of an open-source algorithm.
    algorithm: str | None = None
    algorithm_version: str | None = None
    #: The job's ``TrainingInputMode``: the mode of every channel that names none of its own.
    input_mode: str = "File"
    contract: Contract = "v2"

    @property
    def is_byo(self) -> bool:
        """A bring-your-own image job (``kind = "byo"``)."""
        return self.kind == "byo"

    @property
    def is_framework(self) -> bool:
        """A framework-image job (``kind = "framework"``): the image's toolkit runs the code."""
        return self.kind == "framework"

    @property
    def is_local(self) -> bool:
        return self.instance_type in LOCAL_INSTANCE_TYPES


def parse_job_spec(config: Resolved, project_dir: Path) -> JobSpec:
    """Build a JobSpec from resolved configuration. Pure: no file is read.

    Raises SpecError (exit 2) naming the offending key, with a hint.
    """
    project_dir = project_dir.absolute()
    source_dir = _path(config.get("source_dir"), project_dir, "source_dir")
    kind = _choice(config.get("kind", "script"), "kind", JOB_KINDS)
    raw_entry = config.get("entry_point")
    hyperparameters = config.table("hyperparameters")
    validate_hyperparameters(hyperparameters)
    built_in = _built_in(config, raw_entry, hyperparameters)
    metrics = {
        name: MetricDefinition(name=name, regex=_regex(regex, f"metrics.{name}"))
        for name, regex in sorted(config.table("metrics").items())
    }
    if built_in is not None:
        found, _version = built_in
        kind = "byo"
        raw_entry = ["-m", found.runner] if found.runner else list(BYO_DEFAULT_COMMAND)
        metrics = {
            **{name: MetricDefinition(name=name, regex=regex) for name, regex in found.metrics},
            **metrics,
        }
    if kind == "byo" and raw_entry in (None, "", []):
        raw_entry = list(BYO_DEFAULT_COMMAND)
    if isinstance(raw_entry, list) and raw_entry[:1] == ["-m"] and built_in is not None:
        entry = EntryPoint(kind="module", argv=(raw_entry[1],))
    else:
        entry = _relative_script(_entry_point(raw_entry, config.source("entry_point")), source_dir)
        kind = _framework_by_default(config, kind, entry)
    base = config.get("base_job_name") or _default_base_name(project_dir)
    job_name = config.get("job_name")
    if job_name is not None:
        validate_job_name(str(job_name), field_name="job_name")
    requirements = config.get("requirements")
    input_mode = _choice(config.get("input_mode", "File"), "input_mode", INPUT_MODES)
    spec = JobSpec(
        project_dir=project_dir,
        source_dir=source_dir,
        entry_point=entry,
        hyperparameters=hyperparameters,
        channels=_channels(config.table("channels"), project_dir, input_mode),
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
        dependencies=_dependencies(config, kind),
        requirements=None
        if requirements is None
        else _path(requirements, project_dir, "requirements"),
        opt_ml=_choice(config.get("opt_ml"), "opt_ml", ("auto", "require", "off")),
        metric_definitions=tuple(metrics[name] for name in sorted(metrics)),
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
        distribution=_distribution(config.table("distribution")),
        algorithm=None if built_in is None else built_in[0].name,
        algorithm_version=None if built_in is None else built_in[1],
        input_mode=input_mode,
        contract=_choice(config.get("contract", "v2"), "contract", ("v2", "v3")),
    )
    if spec.distribution is not None and spec.is_byo:
        raise UnsupportedFeature(
            f"distribution '{spec.distribution.kind}' needs the SageMaker training toolkit, "
            "which a bring-your-own image (kind = 'byo') does not run",
            hint="drop distribution and start the processes from the image's own entry point, "
            "or use kind = 'script'",
        )
    if built_in is not None and spec.is_local and not built_in[0].open_source:
        raise UnsupportedFeature(
            f"algorithm {built_in[0].name!r} is closed source: it runs only on SageMaker, "
            "not on this machine",
            hint="pick an ml.* instance type (instance_type = 'ml.m5.xlarge'), or use "
            "algorithm = 'xgboost', which also runs locally",
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
    return spec


def _built_in(
    config: Resolved, raw_entry: Any, hyperparameters: Mapping[str, Any]
) -> tuple[Any, str] | None:
    """The built-in algorithm a job runs and its version, with its hyperparameters checked
    (SpecError naming the valid range), or None for a job that runs the user's code."""
    name = config.get("algorithm")
    if name in (None, ""):
        if config.get("algorithm_version") not in (None, ""):
            raise SpecError(
                "algorithm_version is set but no algorithm",
                hint="set algorithm = 'xgboost' (or another built-in), or drop algorithm_version",
                field="algorithm_version",
            )
        return None
    if raw_entry not in (None, "", []):
        raise SpecError(
            "both algorithm and entry_point are set: a built-in algorithm runs instead of "
            "your code",
            hint="drop entry_point to run the built-in algorithm, or drop algorithm",
            field="algorithm",
        )
    if config.get("kind") == "script" and config.source("kind") != "default":
        raise SpecError(
            "kind = 'script' does not apply to a built-in algorithm (SageMaker runs its image)",
            hint="drop kind",
            field="kind",
        )
    from sagelift.algorithms import algorithm, check_algorithm_hyperparameters

    version = config.get("algorithm_version")
    found, chosen = algorithm(str(name), None if version in (None, "") else str(version))
    check_algorithm_hyperparameters(found, hyperparameters)
    return found, chosen


def _framework_by_default(config: Resolved, kind: Any, entry: EntryPoint) -> Any:
    """``framework`` when ``image.framework`` names a prebuilt image and ``kind`` is left at its
    default with a script entry point (the toolkit runs scripts); else ``kind`` as given.
    Raises SpecError for ``kind = "framework"`` with a module or command entry point."""
    default = config.source("kind") in (None, "default")
    if default and config.get("image.framework") and entry.kind == "script":
        return "framework"
    if kind == "framework" and entry.kind != "script":
        raise SpecError(
            f"kind = 'framework' runs a script (sagemaker_program), not '{entry.describe()}'",
            hint="give entry_point as a .py script under source_dir, or set kind = 'script'",
            field="entry_point",
        )
    return kind


def _dependencies(config: Resolved, kind: str) -> Any:
    if kind == "framework" and config.source("dependencies") in (None, "default"):
        return "auto"
    return _choice(config.get("dependencies"), "dependencies", ("current", "isolated", "auto"))
