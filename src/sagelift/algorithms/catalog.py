"""The built-in algorithm table (``algorithms.json``, shipped with sagelift; its ``_source`` note
says where each fact comes from) and the checks made from it before anything is uploaded:
hyperparameter names, types and ranges; channel names and content types; the data itself.

Covered: ``xgboost`` (algorithm mode, open source: runs locally), ``linear-learner``,
``kmeans`` and ``factorization-machines`` (closed source: SageMaker only).

Each closed-source entry names its developer guide pages in ``_docs`` (hyperparameters:
``ll_hyperparameters``, ``k-means-api-config``, ``fact-machines-hyperparameters``; metrics:
``linear-learner-tuning``, ``k-means-tuning``, ``fm-tuning``). Their metric regexes match the
lines the algorithms print: ``#quality_metric: host=algo-1, epoch=N, validation
<loss>_objective <loss>=v`` per epoch, ``#quality_metric: host=algo-1, validation <metric>
<score>=v`` for the final model and ``#test_score (algo-1) : ('<metric>', v)`` for the test
channel, F-beta logged as ``f_<beta>`` and top-k accuracy with its k.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from sagelift.errors import SpecError

__all__ = [
    "Algorithm",
    "ParameterRule",
    "algorithm",
    "algorithm_image_uri",
    "check_algorithm_channels",
    "check_algorithm_hyperparameters",
    "known_algorithms",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterRule:
    """One documented hyperparameter: its type (int, float, bool, categorical, list, str), its
    bounds (``*_open``: excluded), allowed values, and whether ``auto`` is accepted."""

    name: str
    type: str
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    max_open: bool = False
    values: tuple[str, ...] = ()
    required: bool = False
    auto: bool = False
    extra: tuple[str, ...] = ()
    suffix: str | None = None
    json_list: bool = False

    def describe(self) -> str:
        """The valid values in words, e.g. ``a number in [0, 1]``."""
        if self.type in ("categorical", "list"):
            what = "one of " if self.type == "categorical" else "a comma-separated list of "
            text = what + ", ".join(self.values)
        elif self.type == "bool":
            text = "true or false"
        elif self.type == "str":
            text = "a string"
        else:
            noun = "an integer" if self.type == "int" else "a number"
            low = "-inf" if self.minimum is None else _num(self.minimum)
            high = "inf" if self.maximum is None else _num(self.maximum)
            left = "(" if self.min_open or self.minimum is None else "["
            right = ")" if self.max_open or self.maximum is None else "]"
            text = f"{noun} in {left}{low}, {high}{right}"
        extras = (["auto"] if self.auto else []) + list(self.extra)
        return text + "".join(f" or '{e}'" for e in extras)

    def accepts(self, value: Any) -> bool:
        text = _text(value)
        if (self.auto and text == "auto") or text in self.extra:
            return True
        if self.type == "str":
            return True
        if self.type == "bool":
            return text.lower() in ("true", "false")
        if self.type == "categorical":
            return text in self.values
        if self.type == "list":
            items = _list_items(value, json_list=self.json_list)
            return items is not None and all(self._member(i) for i in items)
        number = _number(value, integer=self.type == "int")
        if number is None:
            return False
        if self.minimum is not None and (
            number < self.minimum or (self.min_open and number == self.minimum)
        ):
            return False
        return self.maximum is None or not (
            number > self.maximum or (self.max_open and number == self.maximum)
        )

    def _member(self, item: str) -> bool:
        if item in self.values:
            return True
        return (
            self.suffix is not None
            and self.suffix in item
            and (item.split(self.suffix, 1)[0] + self.suffix in self.values)
        )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _number(value: Any, *, integer: bool) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
    if not math.isfinite(number) or (integer and not number.is_integer()):
        return None
    return number


def _list_items(value: Any, *, json_list: bool) -> list[str] | None:
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if json_list and text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        return [str(v) for v in parsed] if isinstance(parsed, list) else None
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True, kw_only=True)
class Algorithm:
    """A built-in algorithm as the table describes it."""

    name: str
    open_source: bool
    runner: str | None
    default_version: str
    versions: tuple[str, ...]
    default_content_type: str
    channels: Mapping[str, Any]
    parameters: Mapping[str, ParameterRule]
    metrics: tuple[tuple[str, str], ...]


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("algorithms.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def known_algorithms() -> tuple[str, ...]:
    return tuple(sorted(_table()["algorithms"]))


def _rule(name: str, raw: Mapping[str, Any]) -> ParameterRule:
    return ParameterRule(
        name=name,
        type=raw["type"],
        minimum=raw.get("min"),
        maximum=raw.get("max"),
        min_open=bool(raw.get("min_open")),
        max_open=bool(raw.get("max_open")),
        values=tuple(raw.get("values", ())),
        required=bool(raw.get("required")),
        auto=bool(raw.get("auto")),
        extra=tuple(raw.get("extra", ())),
        suffix=raw.get("suffix"),
        json_list=bool(raw.get("json")),
    )


def algorithm(name: str, version: str | None = None) -> tuple[Algorithm, str]:
    """The algorithm called ``name`` and the version to run (the table's default when None).

    Raises SpecError naming the known algorithms or versions.
    """
    entries: dict[str, Any] = _table()["algorithms"]
    entry = entries.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, sorted(entries), n=1)
        raise SpecError(
            f"algorithm: {name!r} is not a built-in algorithm sagelift knows",
            hint=(f"did you mean '{close[0]}'? " if close else "")
            + f"use one of: {', '.join(sorted(entries))}",
            field="algorithm",
        )
    chosen = version or entry["default_version"]
    if chosen not in entry["versions"]:
        raise SpecError(
            f"algorithm_version: {name} {chosen!r} is not in sagelift's algorithm table",
            hint=f"use one of: {', '.join(sorted(entry['versions']))}",
            field="algorithm_version",
        )
    found = Algorithm(
        name=name,
        open_source=bool(entry["open_source"]),
        runner=entry.get("runner"),
        default_version=entry["default_version"],
        versions=tuple(sorted(entry["versions"])),
        default_content_type=entry["default_content_type"],
        channels=entry["channels"],
        parameters={k: _rule(k, v) for k, v in entry["hyperparameters"].items()},
        metrics=tuple((m["name"], m["regex"]) for m in entry["metrics"]),
    )
    return found, chosen


def algorithm_image_uri(name: str, version: str, *, region: str) -> str:
    """The algorithm's training image in ``region``, as the SDK's ``image_uris.retrieve``
    gives it. Raises SpecError for an unknown algorithm, version or region."""
    algorithm(name, version)
    entry = _table()["algorithms"][name]["versions"][version]
    account = entry["registries"].get(region)
    if account is None:
        raise SpecError(
            f"algorithm: no {name} {version} image is listed for region {region}",
            hint="pick a region SageMaker offers the algorithm in (aws.region)",
            field="algorithm",
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{entry['repository']}:{entry['tag']}"


def check_algorithm_hyperparameters(found: Algorithm, hyperparameters: Mapping[str, Any]) -> None:
    """Every name documented, every value of its type and in its range, every required one
    given. Raises SpecError (exit 2) naming the valid range."""
    for name, value in sorted(hyperparameters.items()):
        key = f"hyperparameters.{name}"
        rule = found.parameters.get(name)
        if rule is None:
            close = difflib.get_close_matches(name, sorted(found.parameters), n=1)
            raise SpecError(
                f"{key}: {found.name} has no hyperparameter {name!r}",
                hint=(f"did you mean '{close[0]}'? " if close else "")
                + f"see the {found.name} hyperparameters in the SageMaker developer guide",
                field=key,
            )
        if not rule.accepts(value):
            raise SpecError(
                f"{key}: {value!r} is not valid for {found.name}",
                hint=f"{name} must be {rule.describe()}",
                field=key,
            )
    missing = [
        r.name for r in found.parameters.values() if r.required and r.name not in hyperparameters
    ]
    if missing:
        rule = found.parameters[missing[0]]
        raise SpecError(
            f"hyperparameters.{missing[0]}: {found.name} requires it",
            hint=f"set {missing[0]} ({rule.describe()}) under [hyperparameters]",
            field=f"hyperparameters.{missing[0]}",
        )


def channel_content_type(found: Algorithm, given: str | None) -> str:
    return given or found.default_content_type


def check_algorithm_channels(
    found: Algorithm, channels: Mapping[str, tuple[str, str | None]]
) -> None:
    """Channel names and content types the algorithm accepts; the data of local channels in
    that format. ``channels`` maps a name to (uri, content type or None); ``s3://`` data is
    not read. Raises SpecError with the fix."""
    from sagelift.formats.validate import validate_channel

    for name, (uri, given) in sorted(channels.items()):
        key = f"channels.{name}"
        accepted = found.channels.get(name)
        if accepted is None:
            raise SpecError(
                f"{key}: {found.name} reads no channel called {name!r}",
                hint=f"name channels {', '.join(sorted(found.channels))}",
                field=key,
            )
        content_type = channel_content_type(found, given)
        if content_type.split(";", 1)[0].strip().lower() not in accepted["content_types"]:
            raise SpecError(
                f"{key}: {found.name} does not read {content_type!r}",
                hint="set content_type to one of: " + ", ".join(accepted["content_types"]),
                field=key,
            )
        if "://" in uri:
            continue
        problem = validate_channel(Path(uri), content_type)
        if problem is not None:
            raise SpecError(f"{key}: {problem} ({content_type})", hint=problem.fix, field=key)
    for name, accepted in sorted(found.channels.items()):
        if accepted["required"] and name not in channels:
            raise SpecError(
                f"channels.{name}: {found.name} needs a '{name}' channel",
                hint=f"add [channels.{name}] with the path of its data",
                field=f"channels.{name}",
            )
