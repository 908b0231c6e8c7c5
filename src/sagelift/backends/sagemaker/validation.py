"""Check a CreateTrainingJob request against botocore's service model before it is sent.

botocore's ``ParamValidator`` checks types, required members and minimum lengths; it does not
check enums, patterns or maxima, so this module walks the input shape for those itself. A
problem becomes a SpecError (exit 2) naming the request field, the spec key it came from and
the fix, so a bad instance type or an oversize value is a local error, not an API round trip.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from sagelift.errors import ConfigError, MissingDependency, SpecError

__all__ = ["check_region", "instance_types", "known_regions", "validate_request"]

OPERATION = "CreateTrainingJob"

# Request fields a user sets through a spec key; the rest come from settings or sagelift.
_SPEC_KEYS = {
    "ResourceConfig.InstanceType": "instance_type",
    "ResourceConfig.InstanceCount": "instance_count",
    "ResourceConfig.VolumeSizeInGB": "volume_size",
    "StoppingCondition.MaxRuntimeInSeconds": "max_runtime",
    "TrainingJobName": "job_name",
    "RoleArn": "aws.role",
    "OutputDataConfig.S3OutputPath": "output_path",
    "CheckpointConfig.S3Uri": "checkpoint_path",
    "AlgorithmSpecification.TrainingImage": "image.uri",
    "AlgorithmSpecification.MetricDefinitions": "metrics",
    "Environment": "environment",
    "HyperParameters": "hyperparameters",
    "InputDataConfig": "channels",
}


@lru_cache(maxsize=1)
def _input_shape() -> Any:
    try:
        from botocore.loaders import create_loader
        from botocore.model import ServiceModel
    except ImportError as exc:
        raise MissingDependency(
            "checking a SageMaker request needs botocore", hint="pip install 'sagelift[aws]'"
        ) from exc
    # Read from botocore's data files, not through a session: a session resolves the AWS
    # profile, which has nothing to do with the API's shape and may not exist.
    data = create_loader().load_service_model("sagemaker", "service-2")
    model = ServiceModel(data, service_name="sagemaker")
    return model.operation_model(OPERATION).input_shape


def instance_types() -> tuple[str, ...]:
    """Every training instance type botocore's model knows, sorted."""
    shape = _input_shape().members["ResourceConfig"].members["InstanceType"]
    return tuple(sorted(shape.enum))


# Region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1, …
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


@lru_cache(maxsize=1)
def known_regions() -> tuple[str, ...]:
    """Every region botocore's endpoint data lists for SageMaker, all partitions, sorted."""
    try:
        from botocore.loaders import create_loader
        from botocore.regions import EndpointResolver
    except ImportError:
        return ()
    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    found: set[str] = set()
    for partition in resolver.get_available_partitions():
        found.update(resolver.get_available_endpoints("api.sagemaker", partition))
    return tuple(sorted(found))


def check_region(region: str, *, field: str = "aws.region") -> None:
    """Raise ConfigError (exit 2) for a region name that cannot be one: not shaped like a
    region, or not a known region but one letter-swap away from one (a typo). A well-formed
    region newer than botocore's endpoint data passes."""
    known = known_regions()
    if region in known:
        return
    close = difflib.get_close_matches(region, known, n=1, cutoff=0.8)
    if _REGION_RE.match(region) and not close:
        return
    raise ConfigError(
        f"{field}: {region!r} is not an AWS region",
        hint=f"did you mean {close[0]!r}?" if close else "use a region name such as us-east-1",
    )


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        # Java classes such as \p{L} have no Python equivalent; AWS checks those itself.
        return None


def _spec_key(path: str) -> str | None:
    for prefix, key in _SPEC_KEYS.items():
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return key
    return None


def _problems(shape: Any, value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(path, problem)`` for every enum, pattern or maximum ``value`` breaks under ``shape``."""
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _problems(member, value[name], f"{path}.{name}" if path else name)
    elif kind == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            yield path, f"has {len(value)} entries, at most {meta['max']} are allowed"
        for index, item in enumerate(value):
            yield from _problems(shape.member, item, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            yield path, f"has {len(value)} entries, at most {meta['max']} are allowed"
        for key, item in value.items():
            for _, problem in _problems(shape.key, key, f"{path}.{key}"):
                yield f"{path}.{key}", f"key {problem}"
            yield from _problems(shape.value, item, f"{path}.{key}")
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            yield path, f"{value!r} is not one of the values SageMaker accepts"
        if "max" in meta and len(value) > meta["max"]:
            yield path, f"is {len(value)} characters long, at most {meta['max']} are allowed"
        pattern = _compiled(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            yield path, f"{_short(value)} does not match the pattern {meta['pattern']}"
    elif kind in ("integer", "long") and isinstance(value, int):
        if "max" in meta and value > meta["max"]:
            yield path, f"is {value}, at most {meta['max']} is allowed"
        if "min" in meta and value < meta["min"]:
            yield path, f"is {value}, at least {meta['min']} is needed"


def _short(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _hint(path: str) -> str:
    key = _spec_key(path)
    if path == "ResourceConfig.InstanceType":
        return "pick an ml.* instance type SageMaker offers (see 'aws sagemaker' docs)"
    if key is None:
        return "this value comes from sagelift settings; check 'sagelift config'"
    return f"fix '{key}' in sagelift.toml or on the command line"


def _instance_type_error(value: str) -> SpecError:
    close = difflib.get_close_matches(value, instance_types(), n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else "pick an ml.* training instance type, e.g. ml.m5.xlarge or ml.g5.xlarge"
    )
    return SpecError(
        f"instance_type: {value!r} is not a SageMaker training instance type",
        hint=hint,
        field="instance_type",
    )


def validate_request(request: dict[str, Any]) -> None:
    """Raise SpecError (exit 2) unless ``request`` fits CreateTrainingJob's input shape.

    Checks types, required members and minimum lengths (botocore's validator), then enums,
    patterns and maxima. The error names the request field and the spec key it came from; an
    unknown instance type suggests the closest real ones.
    """
    from botocore.validate import ParamValidator

    shape = _input_shape()
    instance_type = request.get("ResourceConfig", {}).get("InstanceType")
    if isinstance(instance_type, str) and instance_type not in instance_types():
        raise _instance_type_error(instance_type)
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        first = report.generate_report().splitlines()
        detail = first[1] if len(first) > 1 else first[0]
        raise SpecError(
            f"the CreateTrainingJob request is invalid: {detail.strip()}",
            hint="this usually means a setting has the wrong type; check 'sagelift config'",
            field=None,
        )
    for path, problem in _problems(shape, request, ""):
        key = _spec_key(path)
        raise SpecError(
            f"{path} {problem}" + (f" (from '{key}')" if key else ""),
            hint=_hint(path),
            field=key,
        )
