"""Metric definitions guessed from what a script prints.

A print or logging call whose text has ``name=<value>`` or ``name: <value>`` (an f-string, a
``%`` or ``str.format`` template, or ``print("loss:", loss)``) proposes a metric whose regex
captures the number after ``name=``, as SageMaker's MetricDefinitions and sagelift's local
metric parsing read it. Every guess carries a sample line it was checked against. Pure.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

__all__ = ["NUMBER", "PrintedMetric", "disambiguate", "printed_metrics"]

#: The value group of every proposed regex (a float, an int, or scientific notation).
NUMBER = r"([0-9.eE+-]+)"
#: SageMaker accepts at most 40 metric definitions per job.
MAX_METRICS = 40
_EMITTERS = frozenset(
    {"print", "info", "debug", "warning", "warn", "error", "critical", "log", "write", "echo"}
)
#: Counters, not metrics: sagelift reads them as the step of a point.
_COUNTERS = frozenset({"epoch", "epochs", "step", "steps", "iter", "iteration", "batch", "it"})
_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-/]*)(\s*)([=:])(\s*)$")
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-+ 0#]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGsr]")
_BRACES = re.compile(r"\{[^{}]*\}")
_SAMPLE = "0.97"
_PLACEHOLDER = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintedMetric:
    """A metric a file prints: its ``regex`` matches ``sample`` and captures 0.97."""

    name: str
    regex: str
    sample: str
    origin: str


Segment = str | object


def _split(text: str, pattern: re.Pattern[str]) -> list[Segment]:
    parts: list[Segment] = []
    last = 0
    for match in pattern.finditer(text):
        parts += [text[last : match.start()], _PLACEHOLDER]
        last = match.end()
    return [*parts, text[last:]]


def _template(node: ast.expr) -> list[Segment] | None:
    """The text an expression renders, as literal pieces and placeholders; None if unknown."""
    if isinstance(node, ast.JoinedStr):
        parts: list[Segment] = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            else:
                parts.append(_PLACEHOLDER)
        return parts
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mod)
        and isinstance(node.left, ast.Constant)
        and isinstance(node.left.value, str)
    ):
        return _split(node.left.value, _PERCENT)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
    ):
        return _split(node.func.value.value, _BRACES)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _split(node.value, _PERCENT)
    return None


def _call_templates(call: ast.Call) -> list[list[Segment]]:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    if name not in _EMITTERS or not call.args:
        return []
    if name == "print" and len(call.args) > 1:
        # print(a, b) joins its arguments with a space.
        joined: list[Segment] = []
        for index, arg in enumerate(call.args):
            piece = _template(arg) or [_PLACEHOLDER]
            joined += ([" "] if index else []) + piece
        return [joined]
    # logging.log(level, msg, …) carries the message second.
    first = call.args[1] if name == "log" and len(call.args) > 1 else call.args[0]
    template = _template(first)
    return [template] if template is not None else []


def _labels(parts: Sequence[Segment]) -> Iterable[tuple[str, str, str, str]]:
    """(name, space before the separator, separator, space after) for each placeholder that
    follows ``name=`` or ``name:`` in the literal text."""
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
            continue
        match = _LABEL.search(text)
        if match is not None:
            yield match.group(1), match.group(2), match.group(3), match.group(4)
        text = ""


def _regex(name: str, before: str, sep: str, after: str) -> str:
    return (
        re.escape(name)
        + (r"\s*" if before else "")
        + re.escape(sep)
        + (r"\s*" if after else "")
        + NUMBER
    )


def _checked(metric: PrintedMetric) -> bool:
    try:
        match = re.search(metric.regex, metric.sample)
    except re.error:
        return False
    return match is not None and match.group(1) == _SAMPLE


def printed_metrics(tree: ast.AST, path: str) -> tuple[PrintedMetric, ...]:
    """The metrics the print/logging calls of a parsed file emit, first occurrence per name."""
    found: list[tuple[int, PrintedMetric]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for parts in _call_templates(node):
            for name, before, sep, after in _labels(parts):
                if name.lower() in _COUNTERS or name.endswith(("/", ".", "-")):
                    continue
                metric = PrintedMetric(
                    name=name,
                    regex=_regex(name, before, sep, after),
                    sample=f"{name}{before}{sep}{after}{_SAMPLE}",
                    origin=f"{path}:{node.lineno}",
                )
                if _checked(metric):
                    found.append((node.lineno, metric))
    first: dict[str, PrintedMetric] = {}
    for _, metric in sorted(found, key=lambda item: item[0]):
        first.setdefault(metric.name, metric)
    return tuple(first.values())


def disambiguate(metrics: Sequence[PrintedMetric]) -> tuple[PrintedMetric, ...]:
    """At most ``MAX_METRICS`` metrics, one per name; a regex that would also match another
    metric's line (``loss=`` inside ``val_loss=``) gets a leading word boundary."""
    unique = list({m.name: m for m in reversed(metrics)}.values())[::-1][:MAX_METRICS]
    result = []
    for metric in unique:
        others = [m.sample for m in unique if m is not metric]
        if any(re.search(metric.regex, sample) for sample in others):
            bounded = replace(metric, regex=r"\b" + metric.regex)
            metric = bounded if _checked(bounded) else metric
        result.append(metric)
    return tuple(result)
