"""Shared machinery of the sagelift benchmarks: timing, medians, targets and the report table.

A benchmark compares a candidate (sagelift doing something) with a baseline (the plain way of
doing the same thing) measured in the same run, interleaved, so that machine noise hits both.
Its figure is a difference and a ratio of medians, judged against a ``Target``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

Verdict = Literal["PASS", "MISS"]
TargetKind = Literal["diff", "ratio"]

OUTPUT_TAIL = 2000


class BenchmarkError(Exception):
    """A benchmark could not be measured (a command failed, a dependency is missing)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Samples:
    """Wall times, in seconds, of one variant; ``seconds`` is never empty."""

    label: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        return max(self.seconds) - min(self.seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What the candidate must achieve against the baseline.

    ``diff``: median(candidate) - median(baseline) <= limit (seconds).
    ``ratio``: median(candidate) / median(baseline) <= limit.
    """

    kind: TargetKind
    limit: float

    def describe(self) -> str:
        if self.kind == "diff":
            return f"overhead ≤ {format_seconds(self.limit)}"
        if self.limit > 1.0:
            return f"overhead ≤ {(self.limit - 1.0) * 100:.4g} %"
        return f"ratio ≤ {self.limit:.3g}×"

    def met(self, baseline: float, candidate: float) -> bool:
        if self.kind == "diff":
            return candidate - baseline <= self.limit
        return candidate <= self.limit * baseline


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    name: str
    baseline: Samples
    candidate: Samples
    target: Target

    @property
    def diff(self) -> float:
        return self.candidate.median - self.baseline.median

    @property
    def ratio(self) -> float:
        return self.candidate.median / self.baseline.median

    @property
    def verdict(self) -> Verdict:
        met = self.target.met(self.baseline.median, self.candidate.median)
        return "PASS" if met else "MISS"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "baseline": {"label": self.baseline.label, "seconds": list(self.baseline.seconds)},
            "candidate": {"label": self.candidate.label, "seconds": list(self.candidate.seconds)},
            "baseline_median": self.baseline.median,
            "candidate_median": self.candidate.median,
            "diff": self.diff,
            "ratio": self.ratio,
            "target": {"kind": self.target.kind, "limit": self.target.limit},
            "verdict": self.verdict,
        }


def measure(
    fn: Callable[[], object],
    *,
    label: str,
    repeat: int,
    warmup: int = 1,
    before: Callable[[], object] | None = None,
) -> Samples:
    """Time ``fn`` ``repeat`` times after ``warmup`` untimed calls; ``before`` runs untimed."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    times = []
    for index in range(warmup + repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
        if index >= warmup:
            times.append(elapsed)
    return Samples(label=label, seconds=tuple(times))


def measure_pair(
    baseline: Callable[[], object],
    candidate: Callable[[], object],
    *,
    repeat: int,
    warmup: int = 1,
    labels: tuple[str, str] = ("baseline", "candidate"),
    before: Callable[[], object] | None = None,
    after: Callable[[], object] | None = None,
) -> tuple[Samples, Samples]:
    """Time ``baseline`` and ``candidate`` ``repeat`` times each, interleaved.

    Rounds alternate the order (AB, BA, AB, …) so slow drift of the machine does not favour
    either side. ``warmup`` untimed rounds come first. ``before``/``after`` run around every
    call, outside the timed span (to reset state: sync, delete a destination).
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    variants = (baseline, candidate)
    times: tuple[list[float], list[float]] = ([], [])
    for round_no in range(warmup + repeat):
        order = (0, 1) if round_no % 2 == 0 else (1, 0)
        for index in order:
            if before is not None:
                before()
            started = time.perf_counter()
            variants[index]()
            elapsed = time.perf_counter() - started
            if after is not None:
                after()
            if round_no >= warmup:
                times[index].append(elapsed)
    return (
        Samples(label=labels[0], seconds=tuple(times[0])),
        Samples(label=labels[1], seconds=tuple(times[1])),
    )


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    expect: str | None = None,
) -> None:
    """Run ``argv`` to completion with its output going to a file (the same for every variant).

    Raises BenchmarkError with the output's tail when it exits non-zero, or when ``expect`` is
    given and does not appear in its output (a benchmark of a command that did not do the work
    would measure nothing).
    """
    with tempfile.TemporaryFile() as sink:
        try:
            code = subprocess.run(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            ).returncode
        except OSError as exc:
            raise BenchmarkError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        sink.seek(0)
        output = sink.read().decode("utf-8", "replace")
    if code != 0:
        raise BenchmarkError(
            f"{' '.join(argv)} exited with {code} in {cwd}; last output:\n{output[-OUTPUT_TAIL:]}"
        )
    if expect is not None and expect not in output:
        raise BenchmarkError(
            f"{' '.join(argv)} did not print {expect!r}; last output:\n{output[-OUTPUT_TAIL:]}"
        )


def clean_environment(config_home: Path) -> dict[str, str]:
    """This process's environment without ``SAGELIFT_*`` and with an empty user config dir.

    Both variants get it, so a developer's own sagelift settings cannot change the figure.
    Bytecode caching stays on, as in any pip-installed environment (pip compiles a package's
    modules at install time); ``precompile_sagelift`` makes an editable checkout match that.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SAGELIFT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["XDG_CONFIG_HOME"] = str(config_home)
    return env


def precompile_sagelift() -> None:
    """Write sagelift's .pyc files once, as ``pip install`` would have."""
    import compileall

    import sagelift

    compileall.compile_dir(str(Path(sagelift.__file__).parent), quiet=1)


def format_seconds(seconds: float) -> str:
    if abs(seconds) < 1.0:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.3f} s"


def format_diff(seconds: float) -> str:
    sign = "+" if seconds >= 0 else "-"
    return sign + format_seconds(abs(seconds))


def format_ratio(ratio: float) -> str:
    return f"{ratio:.3f}× ({(ratio - 1.0) * 100:+.1f} %)"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, columns left-aligned and padded to their widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(headers, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def render_report(comparisons: Sequence[Comparison]) -> str:
    """The summary table: medians, difference, ratio, target and PASS/MISS per benchmark."""
    headers = ["benchmark", "baseline", "sagelift", "diff", "ratio", "target", "result"]
    rows = [
        [
            c.name,
            format_seconds(c.baseline.median),
            format_seconds(c.candidate.median),
            format_diff(c.diff),
            format_ratio(c.ratio),
            c.target.describe(),
            c.verdict,
        ]
        for c in comparisons
    ]
    return render_table(headers, rows)


def render_samples(comparison: Comparison) -> str:
    """One line per variant listing every timed run, for judging the noise."""
    lines = []
    for samples in (comparison.baseline, comparison.candidate):
        runs = ", ".join(f"{s:.3f}" for s in samples.seconds)
        lines.append(
            f"  {samples.label}: median {samples.median:.3f} s, "
            f"spread {samples.spread:.3f} s, runs [{runs}]"
        )
    return "\n".join(lines)


def describe_machine() -> str:
    return (
        f"python {platform.python_version()} ({sys.executable}), {platform.system()} "
        f"{platform.release()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


def write_json(path: Path, comparisons: Sequence[Comparison], extra: Mapping[str, object]) -> None:
    payload = {
        "machine": describe_machine(),
        **extra,
        "comparisons": [c.as_dict() for c in comparisons],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def exit_code(comparisons: Sequence[Comparison]) -> int:
    """0 when every target is met, 1 when any is missed."""
    return 0 if all(c.verdict == "PASS" for c in comparisons) else 1


def fail(message: str) -> NoReturn:
    """Print why the benchmark could not run and exit 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
