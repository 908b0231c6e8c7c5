"""What a check gives (``CheckResult``: pass, fail, warn or skip, with the fix) and the report
of all of them: ``render_results`` and ``exit_code`` are pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sagelift.errors import SageliftError

__all__ = ["CheckResult", "Outcome", "exit_code", "render_results"]

Outcome = Literal["pass", "fail", "warn", "skip"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    name: str
    outcome: Outcome
    detail: str
    fix: str | None = None


def _pass(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, outcome="pass", detail=detail)


def _fail(name: str, detail: str, fix: str | None) -> CheckResult:
    return CheckResult(name=name, outcome="fail", detail=detail, fix=fix)


def _skip(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, outcome="skip", detail=detail)


def _from_error(name: str, exc: SageliftError) -> CheckResult:
    return _fail(name, exc.message, exc.hint)


def render_results(results: Iterable[CheckResult]) -> list[str]:
    """One line per check (``PASS name: detail``), the fix indented under failures. Pure."""
    lines: list[str] = []
    for result in results:
        lines.append(f"{result.outcome.upper():<4} {result.name}: {result.detail}")
        if result.fix and result.outcome in ("fail", "warn"):
            lines.append(f"     fix: {result.fix}")
    return lines


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 when nothing failed (warnings and skips included), else 1."""
    return 1 if any(r.outcome == "fail" for r in results) else 0
