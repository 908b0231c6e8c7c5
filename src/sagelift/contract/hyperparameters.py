"""Hyperparameters as SageMaker carries them: encoded by the SDK, decoded by the toolkit.

The CreateTrainingJob API holds hyperparameters as a ``map<string,string>``. sagelift encodes
them the way SageMaker Python SDK v2 does in script mode (``json.dumps`` of every value,
``estimator.py`` ``_json_encode_hyperparameters``), so a script or an AWS Deep Learning
Container decodes them exactly as it would for an SDK-launched job. Decoding, the reserved
``sagemaker_*`` split and the command-line rendering follow sagemaker-training 5.1.4
(``environment.read_hyperparameters``, ``mapping.split_by_criteria``, ``mapping.to_cmd_args``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Mapping as _Mapping
from typing import Sequence as _Sequence
from typing import Union

__all__ = [
    "MAX_ENTRIES",
    "MAX_KEY_LENGTH",
    "MAX_VALUE_LENGTH",
    "RESERVED_KEYS",
    "RESERVED_PREFIX",
    "SCRIPT_MODE_KEYS",
    "JSONValue",
    "decode_hyperparameters",
    "decode_v3_hyperparameters",
    "encode_hyperparameters",
    "encode_plain_hyperparameters",
    "encode_v3_hyperparameters",
    "split_reserved",
    "to_cmd_args",
    "to_v3_cmd_args",
    "v3_serialize",
    "validate_hyperparameters",
]

# typing.Union, not ``X | Y``: this alias is evaluated at run time, and the launcher bundle runs
# on Python 3.8.
JSONValue = Union[str, int, float, bool, _Sequence["JSONValue"], _Mapping[str, "JSONValue"], None]

# botocore service model, shapes HyperParameters / HyperParameterKey / HyperParameterValue.
MAX_ENTRIES = 100
MAX_KEY_LENGTH = 256
MAX_VALUE_LENGTH = 2500

# sagemaker_training/params.py: SAGEMAKER_PREFIX and SAGEMAKER_HYPERPARAMETERS.
RESERVED_PREFIX = "sagemaker_"
RESERVED_KEYS: tuple[str, ...] = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
)

# The keys SDK v2 adds in script mode (``Framework._prepare_for_training``).
SCRIPT_MODE_KEYS: tuple[str, ...] = (
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "sagemaker_program",
    "sagemaker_region",
    "sagemaker_submit_directory",
)


def encode_hyperparameters(hps: Mapping[str, JSONValue]) -> dict[str, str]:
    """Encode every value with ``json.dumps``, as SageMaker Python SDK v2 does.

    ``"abc"`` becomes ``'"abc"'``, ``3`` becomes ``"3"``, ``True`` becomes ``"true"``.
    Keys keep their mapping order. Raises ``TypeError``/``ValueError`` from ``json`` for values
    it cannot encode; call :func:`validate_hyperparameters` first for a user-facing error.
    """
    return {str(key): json.dumps(value) for key, value in hps.items()}


def encode_plain_hyperparameters(hps: Mapping[str, JSONValue]) -> dict[str, str]:
    """Encode values as plain strings, as a bring-your-own image receives them.

    SageMaker Python SDK v2's generic ``Estimator`` (no ``source_dir``) sends ``str(value)``
    (``_TrainingJob._get_train_args``), so ``"binary:logistic"`` arrives without quotes and
    ``3`` as ``"3"``. Scalars follow it (``True`` -> ``"True"``, ``None`` -> ``"None"``); lists
    and mappings become JSON (``["a", "b"]``), as SDK v3 sends them, instead of a Python repr.
    """
    return {
        str(key): json.dumps(value) if isinstance(value, (list, tuple, Mapping)) else str(value)
        for key, value in hps.items()
    }


def decode_hyperparameters(raw: Mapping[str, str]) -> dict[str, JSONValue]:
    """Decode as the toolkit does: ``json.loads`` each value, else keep the raw string.

    ``"3"`` -> 3, ``"true"`` -> True, ``'"abc"'`` -> ``"abc"``, ``"abc"`` -> ``"abc"``.
    """
    decoded: dict[str, JSONValue] = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (ValueError, TypeError):
            decoded[key] = value
    return decoded


def split_reserved(
    decoded: Mapping[str, JSONValue],
) -> tuple[dict[str, JSONValue], dict[str, JSONValue]]:
    """Split decoded hyperparameters into ``(user, reserved)`` as the toolkit does.

    Reserved are the keys starting with ``sagemaker_`` plus :data:`RESERVED_KEYS`
    (which include ``_tuning_objective_metric`` and ``default_user_module_name``).
    Both results keep the input order.
    """
    reserved = {
        key: value
        for key, value in decoded.items()
        if key in RESERVED_KEYS or key.startswith(RESERVED_PREFIX)
    }
    user = {key: value for key, value in decoded.items() if key not in reserved}
    return user, reserved


def _render_arg(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin1")
    return str(value)


def to_cmd_args(user_hps: Mapping[str, JSONValue]) -> list[str]:
    """The argv tail the toolkit passes to the entry point (``mapping.to_cmd_args``).

    Keys are sorted; a key longer than one character becomes ``--key``, a one-character key
    ``-k``. Values go through ``str()``: ``True`` -> ``"True"``, ``None`` -> ``""``, a list
    -> its Python repr; a mapping becomes ``k=v`` pairs sorted by key and joined with commas.
    """
    args: list[str] = []
    for key in sorted(user_hps):
        name = _render_arg(key)
        if name:
            name = f"--{name}" if len(name) > 1 else f"-{name}"
        value = user_hps[key]
        if isinstance(value, Mapping):
            rendered = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        else:
            rendered = _render_arg(value)
        args.extend((name, rendered))
    return args


def v3_serialize(value: object) -> str:
    """A value as SDK v3's drivers write it (``common/utils.py`` ``safe_serialize``): a string
    as it is, anything else ``json.dumps`` (``True`` -> ``true``, a dict -> ``{"a": 1}``)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def _v3_deserialize(value: object) -> object:
    # common/utils.py safe_deserialize: JSON when a string parses as JSON, else as it is.
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def encode_v3_hyperparameters(hps: Mapping[str, JSONValue]) -> dict[str, str]:
    """The request's HyperParameters as SDK v3's ``ModelTrainer`` sends them: each value
    through ``v3_serialize``, and no ``sagemaker_*`` keys."""
    return {key: v3_serialize(value) for key, value in hps.items()}


def decode_v3_hyperparameters(raw: Mapping[str, str]) -> dict[str, object]:
    """``hyperparameters.json`` as the v3 drivers read it (``deserialize_hyperparameters``)."""
    return {key: _v3_deserialize(value) for key, value in raw.items()}


def to_v3_cmd_args(raw: Mapping[str, str]) -> list[str]:
    """The argv tail SDK v3's basic script driver passes (``hyperparameters_to_cli_args``):
    ``--key value`` for every key, in the file's order, values JSON (``--flag true``,
    ``--layers '[1, 2]'``, ``--opts '{"a": 1}'``), strings bare."""
    args: list[str] = []
    for key, value in raw.items():
        args.extend((f"--{key}", v3_serialize(_v3_deserialize(value))))
    return args


def _unencodable(value: object, path: str) -> str | None:
    """Why ``value`` would not survive a JSON round trip unchanged, or None if it would."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value!r}, which JSON cannot hold"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has the non-string key {key!r}"
            reason = _unencodable(item, f"{path}.{key}")
            if reason:
                return reason
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            reason = _unencodable(item, f"{path}[{index}]")
            if reason:
                return reason
        return None
    return f"{path} is a {type(value).__name__}, which is not JSON"


def validate_hyperparameters(hps: Mapping[str, JSONValue]) -> None:
    """Check ``hps`` against the CreateTrainingJob limits before anything is sent.

    The count includes the :data:`SCRIPT_MODE_KEYS` that rendering adds, so both user-only
    and rendered mappings can be checked. Values must be str, int, finite float, bool, None,
    or lists/dicts of those with string keys.

    Raises ``sagelift.errors.SpecError`` with ``field="hyperparameters.<key>"`` (or
    ``"hyperparameters"`` for the count).
    """
    from sagelift.errors import SpecError

    total = len(set(hps) | set(SCRIPT_MODE_KEYS))
    if total > MAX_ENTRIES:
        raise SpecError(
            f"hyperparameters: {len(hps)} given; SageMaker allows {MAX_ENTRIES} in all and "
            f"sagelift adds up to {len(SCRIPT_MODE_KEYS)} of its own",
            hint="group related values into one JSON object, or read them from a config file",
            field="hyperparameters",
        )
    for key, value in hps.items():
        if not isinstance(key, str):
            raise SpecError(
                f"hyperparameters: key {key!r} is not a string",
                hint="use string names for hyperparameters",
                field=f"hyperparameters.{key}",
            )
        field = f"hyperparameters.{key}"
        if len(key) > MAX_KEY_LENGTH:
            raise SpecError(
                f"hyperparameters: the name {key[:40]!r}… is {len(key)} characters; "
                f"SageMaker allows at most {MAX_KEY_LENGTH}",
                hint="use a shorter hyperparameter name",
                field=field,
            )
        reason = _unencodable(value, field)
        if reason:
            raise SpecError(
                reason,
                hint="use str, int, finite float, bool, null, or lists/objects of those "
                "with string keys",
                field=field,
            )
        encoded = json.dumps(value)
        if len(encoded) > MAX_VALUE_LENGTH:
            raise SpecError(
                f"{field}: the encoded value is {len(encoded)} characters; "
                f"SageMaker allows at most {MAX_VALUE_LENGTH}",
                hint="put large values in a file in a channel and pass its name instead",
                field=field,
            )
