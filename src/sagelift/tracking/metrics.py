"""Metric lines in a job's output, parsed as SageMaker's MetricDefinitions parse them.

A definition is a name and a regex; the first capture group of a match is the value. The step of
a point is an explicit ``step=N`` / ``epoch=N`` (also ``step: N``, ``epoch N``) on the same line
when there is one, else the point's occurrence index for that metric (0, 1, 2, …). Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sagelift.errors import SpecError
from sagelift.spec import MetricDefinition

__all__ = ["MetricParser", "MetricPoint", "compile_definitions", "parse_metrics"]

STEP_RE = re.compile(r"\b(?:step|epoch)\s*[=:]?\s*(\d+)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricPoint:
    key: str
    value: float
    step: int
    #: 0-based index of this point among the points of ``key``.
    index: int


def compile_definitions(
    definitions: Iterable[MetricDefinition],
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The definitions' regexes, compiled. Raises SpecError for an invalid one."""
    compiled = []
    for definition in definitions:
        try:
            pattern = re.compile(definition.regex)
        except re.error as exc:
            raise SpecError(
                f"metrics.{definition.name}: invalid regex: {exc}",
                hint="make the first group capture the value, e.g. 'loss=([0-9.]+)'",
                field=f"metrics.{definition.name}",
            ) from exc
        if pattern.groups < 1:
            raise SpecError(
                f"metrics.{definition.name}: the regex has no capture group",
                hint="wrap the value in parentheses, e.g. 'loss=([0-9.]+)'",
                field=f"metrics.{definition.name}",
            )
        compiled.append((definition.name, pattern))
    return tuple(compiled)


@dataclass(slots=True, kw_only=True)
class MetricParser:
    """Feed output lines one at a time; get the metric points each line holds.

    Values that do not parse as finite floats are skipped (SageMaker drops them too).
    """

    definitions: Sequence[MetricDefinition]
    _patterns: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False)
    _counts: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._patterns = compile_definitions(self.definitions)

    def feed(self, line: str) -> list[MetricPoint]:
        points = []
        step_match = STEP_RE.search(line)
        for key, pattern in self._patterns:
            match = pattern.search(line)
            if match is None or match.group(1) is None:
                continue
            try:
                value = float(match.group(1))
            except ValueError:
                continue
            if not math.isfinite(value):
                continue
            index = self._counts.get(key, 0)
            self._counts[key] = index + 1
            step = int(step_match.group(1)) if step_match else index
            points.append(MetricPoint(key=key, value=value, step=step, index=index))
        return points


def parse_metrics(
    lines: Iterable[str], definitions: Sequence[MetricDefinition]
) -> list[MetricPoint]:
    """Every metric point of ``lines``, in order."""
    parser = MetricParser(definitions=definitions)
    return [point for line in lines for point in parser.feed(line)]
