"""Layered configuration: every value with the place it came from.

Precedence, lowest first (written once, here):

1. built-in defaults; ``MLFLOW_TRACKING_URI`` as the default ``tracking.uri``
2. the user file (``~/.config/sagelift/config.toml``), then its ``[profile.<name>]``
3. the project file (``sagelift.toml``, or ``[tool.sagelift]`` in ``pyproject.toml``), then its
   ``[profile.<name>]``
4. ``SAGELIFT_*`` environment variables
5. command-line flags

Keys are flat and dotted (``instance_type``, ``hyperparameters.epochs``, ``aws.region``); a table
such as ``hyperparameters`` merges key by key across layers. ``resolve`` is pure; the ``load_*``
functions do the reading.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagelift.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "KEYS",
    "TABLES",
    "Layer",
    "Resolved",
    "Value",
    "env_layer",
    "find_project_file",
    "load_config",
    "load_file_layers",
    "parse_assignment",
    "resolve",
    "user_config_path",
]

PROJECT_FILE = "sagelift.toml"
PYPROJECT_FILE = "pyproject.toml"
ENV_PREFIX = "SAGELIFT_"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"

#: Scalar keys: name -> one-line description (shown by ``sagelift config``).
KEYS: dict[str, str] = {
    "entry_point": "script path, '-m package.module', or a command list",
    "kind": "'framework' (the prebuilt image's own toolkit runs the script, as the SDK's "
    "framework estimators; default when image.framework is set), 'script' (dependencies-only: "
    "sagelift's launcher runs it) or 'byo' (the image's own entry point, plain-string "
    "hyperparameters, as the generic Estimator)",
    "algorithm": "a SageMaker built-in algorithm instead of an entry point: 'xgboost', "
    "'linear-learner', 'kmeans' or 'factorization-machines'",
    "algorithm_version": "the built-in algorithm's version (e.g. '1.7-1' for xgboost; default: "
    "sagelift's table)",
    "contract": "'v2' (SDK v2 script mode: the sagemaker-training toolkit's arguments and SM_*) "
    "or 'v3' (SDK v3 ModelTrainer's drivers: JSON arguments such as --flag true, their SM_*)",
    "source_dir": "directory shipped as the job's code (/opt/ml/code)",
    "base_job_name": "prefix of generated job names",
    "job_name": "exact job name (default: <base_job_name>-<timestamp>)",
    "instance_type": "'local' (this machine) or an ml.* type",
    "instance_count": "number of instances",
    "volume_size": "EBS volume size in GB (cloud)",
    "output_path": "where <job>/output/model.tar.gz is written",
    "checkpoint_path": "checkpoints restored at start and saved during and after the job",
    "max_runtime": "seconds, or a duration like '90m' / '2h'",
    "stop_grace": "seconds between SIGTERM and SIGKILL on stop/max runtime",
    "spot": "true: managed spot training (SageMaker), checkpoints required to resume",
    "max_wait": "spot: seconds (or duration) to wait for capacity plus run, >= max_runtime",
    "max_cost": "refuse a cloud launch whose worst-case cost (USD) exceeds this",
    "simulate_interruptions": "local rehearsal: interrupt the job N times like a spot reclaim",
    "interrupt_at": "seconds into each attempt at which to interrupt it ('5,12'; default 10)",
    "dependencies": "'current' (this Python environment), 'isolated' (cached venv; for the "
    "framework kind laid over this environment) or 'auto' (framework kind's default: this "
    "environment if it satisfies requirements.txt, else the layered venv)",
    "requirements": "requirements file installed in isolated mode",
    "opt_ml": "'auto', 'require' or 'off': bind the job root on /opt/ml in a private namespace",
    "exclude": "extra ignore patterns for the code tarball",
    "input_mode": "TrainingInputMode of channels that set none: 'File', 'FastFile' or 'Pipe'",
    "backend": "'local' (default for instance_type local), 'container' (run in the image), or "
    "'rehearsal' (ml.* types: the SageMaker request executed here in a container, no job created)",
    "aws.region": "AWS region of jobs and buckets",
    "aws.profile": "AWS named profile",
    "aws.role": "SageMaker execution role (ARN or name)",
    "aws.bucket": "S3 bucket for code, data and outputs",
    "aws.prefix": "key prefix inside the bucket",
    "aws.endpoint_url": "custom AWS endpoint (tests, proxies)",
    "aws.ecr_repository": "ECR repository for built images",
    "aws.registry": "registry host override (default: the account's ECR registry)",
    "aws.ci_role": "role CI pipelines assume through OIDC (written by 'aws setup --ci')",
    "image.mode": "'deps' (default for cloud), 'code', 'framework', or 'uri'",
    "image.uri": "an image URI to run as is",
    "image.base": "base image of built images",
    "image.framework": "prebuilt framework image: sklearn, pytorch, tensorflow, huggingface",
    "image.framework_version": "version of the framework image",
    "image.container_cli": "'podman' or 'docker' (default: detected)",
    "tracking.uri": "MLflow tracking URI (turns tracking on)",
    "tracking.experiment": "MLflow experiment name (default: base_job_name)",
}

#: Tables whose sub-keys are free-form: name -> description.
TABLES: dict[str, str] = {
    "hyperparameters": "passed as hyperparameters.json, SM_HP_* and CLI arguments",
    "channels": "name = local dir, file or s3:// prefix, at /opt/ml/input/data/<name>; "
    "or [channels.<name>] with path, input_mode, content_type, compression, record_wrapper, "
    "s3_data_type, attribute_names",
    "environment": "non-secret environment variables for the job",
    "metrics": "name = regex parsed from the job's output (MetricDefinitions)",
    "distribution": "one strategy: torch_distributed, pytorchddp or mpi = {enabled = true, ...}, "
    "as the SDK's distribution= argument",
}

#: Sections of scalar settings: ``[aws]`` holds ``aws.region`` and friends.
SECTIONS = ("aws", "image", "tracking")

DEFAULTS: dict[str, Any] = {
    "source_dir": ".",
    "kind": "script",
    "contract": "v2",
    "instance_type": "local",
    "instance_count": 1,
    "volume_size": 30,
    "output_path": ".sagelift/jobs",
    "max_runtime": 86400,
    "stop_grace": 120,
    "spot": False,
    "dependencies": "current",
    "opt_ml": "auto",
    "input_mode": "File",
    "aws.prefix": "sagelift",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    """One source of settings: ``source`` is how ``sagelift config`` names it."""

    source: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Value:
    value: Any
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """The merged configuration: dotted key -> value and its source."""

    values: Mapping[str, Value]
    profile: str | None
    project_file: Path | None

    def get(self, key: str, default: Any = None) -> Any:
        found = self.values.get(key)
        return default if found is None else found.value

    def table(self, name: str) -> dict[str, Any]:
        prefix = name + "."
        return {k[len(prefix) :]: v.value for k, v in self.values.items() if k.startswith(prefix)}

    def source(self, key: str) -> str | None:
        found = self.values.get(key)
        return None if found is None else found.source


def resolve(layers: Iterable[Layer]) -> Resolved:
    """Merge ``layers`` (lowest precedence first) after checking every key is known."""
    merged: dict[str, Value] = {
        key: Value(value=value, source="default") for key, value in DEFAULTS.items()
    }
    for layer in layers:
        for key, value in layer.values.items():
            _check_key(key, layer.source)
            merged[key] = Value(value=value, source=layer.source)
    return Resolved(values=merged, profile=None, project_file=None)


def _check_key(key: str, source: str) -> None:
    table, _, sub = key.partition(".")
    if key in KEYS or (table in TABLES and sub):
        return
    known = [*KEYS, *TABLES]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "run 'sagelift config --keys' to list them"
    raise ConfigError(f"{source}: unknown key '{key}'", hint=hint)


def flatten(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Turn a parsed TOML table into dotted keys; free-form tables keep their sub-keys."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if key in TABLES:
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{source}: '{key}' must be a table",
                    hint=f"write it as [{key}] with one 'name = value' line per entry",
                )
            for sub, sub_value in value.items():
                flat[f"{key}.{sub}"] = sub_value
        elif key in SECTIONS and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                flat[f"{key}.{sub}"] = sub_value
        else:
            flat[key] = value
    return flat


def find_project_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """Find ``sagelift.toml`` or a ``pyproject.toml`` with ``[tool.sagelift]`` in ``start``.

    Returns the file and its sagelift table, or None when the directory has neither.
    """
    candidate = start / PROJECT_FILE
    if candidate.is_file():
        return candidate, _read_toml(candidate)
    pyproject = start / PYPROJECT_FILE
    if pyproject.is_file():
        data = _read_toml(pyproject)
        tool = data.get("tool", {})
        if isinstance(tool, Mapping) and isinstance(tool.get("sagelift"), Mapping):
            return pyproject, dict(tool["sagelift"])
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", hint="check the file") from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} on line {line})",
            hint="TOML files are UTF-8: re-save the file as UTF-8 (e.g. iconv -t UTF-8)",
        ) from exc
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line L, column C)" in its message; keep it, it is what users need.
        raise ConfigError(
            f"{path}: invalid TOML: {exc}",
            hint="fix the syntax at that line and column (strings need quotes, tables [name])",
        ) from exc
    return data


def load_file_layers(
    path: Path, table: Mapping[str, Any], *, label: str, profile: str | None
) -> tuple[list[Layer], set[str]]:
    """Layers for one file: its base table, then the selected profile's table.

    Returns the layers and the names of the profiles the file defines.
    """
    base = {k: v for k, v in table.items() if k != "profile"}
    profiles = table.get("profile", {})
    if not isinstance(profiles, Mapping):
        raise ConfigError(f"{label}: 'profile' must be a table", hint="use [profile.<name>]")
    layers = [Layer(source=label, values=flatten(base, label))]
    if profile is not None and profile in profiles:
        sub = profiles[profile]
        if not isinstance(sub, Mapping):
            raise ConfigError(f"{label}: profile '{profile}' must be a table", hint=None)
        psource = f"{label} [profile.{profile}]"
        layers.append(Layer(source=psource, values=flatten(sub, psource)))
    return layers, set(profiles)


def env_layer(environ: Mapping[str, str]) -> Layer:
    """``SAGELIFT_<KEY>`` for scalar keys (``SAGELIFT_AWS_REGION`` for ``aws.region``)."""
    names = {ENV_PREFIX + key.upper().replace(".", "_"): key for key in KEYS}
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if name in names:
            values[names[name]] = parse_scalar(raw)
    return Layer(source="environment (SAGELIFT_*)", values=values)


def parse_scalar(raw: str) -> Any:
    """A CLI/env value: JSON when it parses as JSON (3, 0.1, true, [1,2]), else the string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_assignment(text: str, *, flag: str) -> tuple[str, str]:
    """Split ``key=value`` given to ``flag``; raise ConfigError when there is no '='."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"{flag} {text!r}: expected KEY=VALUE", hint=f"for example {flag} epochs=3"
        )
    return key.strip(), value


def user_config_path(environ: Mapping[str, str]) -> Path:
    """``$SAGELIFT_CONFIG`` if set, else ``$XDG_CONFIG_HOME/sagelift/config.toml``."""
    explicit = environ.get("SAGELIFT_CONFIG")
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "sagelift" / "config.toml"


def load_config(
    project_dir: Path,
    *,
    environ: Mapping[str, str],
    cli: Mapping[str, Any] | None = None,
    profile: str | None = None,
) -> Resolved:
    """Read every layer for ``project_dir`` and merge them (see the module docstring).

    Raises ConfigError for unreadable or malformed files, unknown keys and unknown profiles.
    """
    profile = profile or environ.get(ENV_PREFIX + "PROFILE") or None
    layers: list[Layer] = []
    known_profiles: set[str] = set()

    user_path = user_config_path(environ)
    if "SAGELIFT_CONFIG" in environ and not user_path.is_file():
        raise ConfigError(
            f"SAGELIFT_CONFIG names {user_path}, which does not exist",
            hint="create it or unset SAGELIFT_CONFIG",
        )
    if user_path.is_file():
        file_layers, names = load_file_layers(
            user_path, _read_toml(user_path), label=str(user_path), profile=profile
        )
        layers += file_layers
        known_profiles |= names

    found = find_project_file(project_dir)
    project_file = None
    if found is not None:
        project_file, table = found
        label = project_file.name if project_file.name == PROJECT_FILE else "pyproject.toml"
        file_layers, names = load_file_layers(project_file, table, label=label, profile=profile)
        layers += file_layers
        known_profiles |= names

    if profile is not None and profile not in known_profiles:
        listed = ", ".join(sorted(known_profiles)) or "none defined"
        raise ConfigError(
            f"unknown profile '{profile}' (profiles: {listed})",
            hint=f"add [profile.{profile}] to {PROJECT_FILE} or pick one of the listed profiles",
        )

    if environ.get(MLFLOW_URI_ENV):
        # The variable every MLflow user already has: a default for tracking.uri that the
        # project's own setting (and SAGELIFT_TRACKING_URI) overrides.
        layers.insert(
            0,
            Layer(
                source=f"environment ({MLFLOW_URI_ENV})",
                values={"tracking.uri": environ[MLFLOW_URI_ENV]},
            ),
        )
    layers.append(env_layer(environ))
    if cli:
        layers.append(Layer(source="command line", values=dict(cli)))
    merged = resolve(layers)
    return Resolved(values=merged.values, profile=profile, project_file=project_file)
