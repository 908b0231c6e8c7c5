"""The ``[distribution]`` table: at most one enabled strategy, as SDK v2's ``distribution=``
argument takes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagelift.contract.distribution import Distribution
from sagelift.errors import SpecError
from sagelift.spec.values import _bool, _choice, _int

__all__: list[str] = []

_DISTRIBUTION_KEYS = {
    "torch_distributed": ("enabled", "processes_per_host"),
    "pytorchddp": ("enabled", "processes_per_host"),
    "mpi": ("enabled", "processes_per_host", "custom_mpi_options"),
}


def _distribution(table: Mapping[str, Any]) -> Distribution | None:
    """``distribution = {torch_distributed = {enabled = true}}`` and the like, as SDK v2's
    ``distribution=`` argument takes it; one strategy at most, the disabled ones ignored."""
    enabled: list[Distribution] = []
    for name, value in table.items():
        key = f"distribution.{name}"
        if name not in _DISTRIBUTION_KEYS:
            raise SpecError(
                f"{key}: unknown distribution strategy '{name}'",
                hint="use torch_distributed, pytorchddp or mpi",
                field=key,
            )
        if not isinstance(value, Mapping):
            raise SpecError(
                f"{key}: expected a table", hint=f"{name} = {{enabled = true}}", field=key
            )
        unknown = sorted(set(value) - set(_DISTRIBUTION_KEYS[name]))
        if unknown:
            raise SpecError(
                f"{key}: unknown setting '{unknown[0]}'",
                hint="settings here: " + ", ".join(_DISTRIBUTION_KEYS[name]),
                field=key,
            )
        if not _bool(value.get("enabled", False), f"{key}.enabled"):
            continue
        per_host = value.get("processes_per_host")
        options = value.get("custom_mpi_options", "")
        if not isinstance(options, str):
            raise SpecError(
                f"{key}.custom_mpi_options: expected a string",
                hint='custom_mpi_options = "-x NCCL_DEBUG=INFO"',
                field=f"{key}.custom_mpi_options",
            )
        enabled.append(
            Distribution(
                kind=_choice(name, key, tuple(_DISTRIBUTION_KEYS)),
                processes_per_host=None
                if per_host is None
                else _int(per_host, f"{key}.processes_per_host", 1, 1024),
                custom_mpi_options=options,
            )
        )
    if len(enabled) > 1:
        raise SpecError(
            "distribution: more than one strategy is enabled "
            f"({', '.join(d.kind for d in enabled)})",
            hint="enable one of torch_distributed, pytorchddp and mpi",
            field="distribution",
        )
    return enabled[0] if enabled else None
