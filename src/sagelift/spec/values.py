"""The small value parsers every part of the spec uses: strings, lists, numbers, choices, durations,
locations (local path or ``s3://`` URI), instance types, job names and base job names.

Each returns the checked value or raises SpecError naming the offending key, with a hint. The
underscored parsers are the spec package's own, shared by its parts; they are no public API.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

from sagelift.errors import SpecError

__all__ = [
    "JOB_NAME_RE",
    "LOCAL_INSTANCE_TYPES",
    "S3_BUCKET_RE",
    "is_remote_uri",
    "parse_duration",
    "validate_job_name",
]

# botocore: TrainingJobName pattern and length.
JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# S3 bucket naming rules (general purpose buckets).
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
LOCAL_INSTANCE_TYPES = frozenset({"local", "local_gpu"})


def is_remote_uri(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


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


def validate_job_name(name: str, *, field_name: str = "job_name") -> None:
    if not JOB_NAME_RE.match(name):
        raise SpecError(
            f"{field_name}: '{name}' is not a valid SageMaker job name",
            hint="use 1-63 letters, digits and hyphens, starting and ending with a letter or digit",
            field=field_name,
        )


def _base_name(name: str, *, strict: bool = True) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40].strip("-")
    if strict and cleaned != name:
        raise SpecError(
            f"base_job_name: '{name}' may only use letters, digits and hyphens",
            hint=f"use '{cleaned or 'job'}'",
            field="base_job_name",
        )
    return cleaned or "job"


def _default_base_name(project_dir: Path) -> str:
    return _base_name(project_dir.name or "job", strict=False)


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
