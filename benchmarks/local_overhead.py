"""Overhead of ``sagelift run`` (local backend) against running ``python train.py`` directly.

Two projects are generated in a temporary directory, each a ``train.py`` and a ``sagelift.toml``
that names it:

* ``trivial``: prints a line and writes a model file. Target: at most 0.25 s more than
  ``python train.py``.
* ``long``: a CPU-bound loop of fixed work calibrated to about 10 s, printing a line per step
  as a training loop does. Target: at most 2 % slower than ``python train.py``.

Both variants run with the same interpreter and environment, interleaved, ``--repeat`` times
each after ``--warmup`` untimed rounds; the figure is the difference and ratio of the medians.

    python benchmarks/local_overhead.py [--repeat 5] [--only trivial|long] [--json out.json]

Exit status: 0 all targets met, 1 a target missed, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from _harness import (
    BenchmarkError,
    Comparison,
    Target,
    clean_environment,
    describe_machine,
    exit_code,
    fail,
    measure_pair,
    precompile_sagelift,
    render_report,
    render_samples,
    run_command,
    write_json,
)

#: How sagelift runs a project from its directory; adjust here (or with --command) as the CLI
#: evolves. It must exit 0 on success and pass the script's output through.
SAGELIFT_RUN: tuple[str, ...] = (sys.executable, "-m", "sagelift", "run")

#: Printed by every generated script as its last line; both variants must show it.
DONE = "sagelift-benchmark: done"

SPEC = 'entry_point = "train.py"\n'

TRIVIAL_SCRIPT = f"""\
import os

model_dir = os.environ.get("SM_MODEL_DIR", "model")
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(model_dir, "model.txt"), "w") as f:
    f.write("trivial\\n")
print("{DONE}")
"""

STEP_FUNCTION = """\
def step(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
"""


def long_script(steps: int, work: int) -> str:
    """A training-loop-like script: ``steps`` steps of ``work`` iterations, a line per step."""
    return f"""\
import os


{STEP_FUNCTION}

for epoch in range(1, {steps} + 1):
    step({work})
    print(f"epoch={{epoch}} loss={{1.0 / epoch:.4f}}", flush=True)

model_dir = os.environ.get("SM_MODEL_DIR", "model")
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(model_dir, "model.txt"), "w") as f:
    f.write("long\\n")
print("{DONE}")
"""


LONG_STEPS = 100
TRIVIAL_TARGET = Target(kind="diff", limit=0.25)
LONG_TARGET = Target(kind="ratio", limit=1.02)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    name: str
    slug: str
    script: str
    target: Target


def calibrate_work(seconds: float, steps: int) -> int:
    """Loop iterations per step so that ``steps`` steps take about ``seconds`` here."""
    namespace: dict[str, object] = {}
    exec(STEP_FUNCTION, namespace)
    step = namespace["step"]
    assert callable(step)
    probe = 100_000
    while True:
        elapsed = _time_step(step, probe)
        if elapsed >= 0.2:
            break
        probe *= 2
    # The fastest of a few probes: another process stealing the CPU only ever slows one down.
    elapsed = min(elapsed, *(_time_step(step, probe) for _ in range(2)))
    return max(1, int(probe * seconds / steps / elapsed))


def _time_step(step: Callable[[int], object], n: int) -> float:
    started = time.perf_counter()
    step(n)
    return time.perf_counter() - started


def make_project(root: Path, case: Case) -> Path:
    project = root / case.slug
    project.mkdir()
    (project / "train.py").write_text(case.script, encoding="utf-8")
    (project / "sagelift.toml").write_text(SPEC, encoding="utf-8")
    return project


def compare(
    case: Case, project: Path, command: Sequence[str], env: dict[str, str], args: argparse.Namespace
) -> Comparison:
    def runner(argv: Sequence[str]) -> Callable[[], None]:
        return lambda: run_command(argv, cwd=project, env=env, expect=DONE)

    baseline, candidate = measure_pair(
        runner([sys.executable, "train.py"]),
        runner(command),
        repeat=args.repeat,
        warmup=args.warmup,
        labels=("python train.py", "sagelift run"),
    )
    return Comparison(name=case.name, baseline=baseline, candidate=candidate, target=case.target)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--only", choices=["trivial", "long"], help="run one case")
    parser.add_argument(
        "--long-seconds", type=float, default=10.0, help="duration of the long script"
    )
    parser.add_argument(
        "--command",
        default=shlex.join(SAGELIFT_RUN),
        help="how to invoke 'sagelift run' (default: %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be ≥ 1 and --warmup ≥ 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.split(args.command)
    cases = []
    if args.only in (None, "trivial"):
        cases.append(
            Case(name="trivial", slug="trivial", script=TRIVIAL_SCRIPT, target=TRIVIAL_TARGET)
        )
    if args.only in (None, "long"):
        work = calibrate_work(args.long_seconds, LONG_STEPS)
        name = f"long (~{args.long_seconds:g} s)"
        script = long_script(LONG_STEPS, work)
        cases.append(Case(name=name, slug="long", script=script, target=LONG_TARGET))

    print(describe_machine())
    print(f"sagelift: {shlex.join(command)}")
    print(f"runs per variant: {args.repeat} timed after {args.warmup} untimed")
    root = Path(tempfile.mkdtemp(prefix="sagelift-bench-overhead-"))
    comparisons = []
    try:
        config_home = root / "config"
        config_home.mkdir()
        env = clean_environment(config_home)
        precompile_sagelift()
        for case in cases:
            project = make_project(root, case)
            comparison = compare(case, project, command, env, args)
            print(f"{case.name}:")
            print(render_samples(comparison))
            comparisons.append(comparison)
    except BenchmarkError as exc:
        fail(f"{exc}\n(is the sagelift command right? change it with --command)")
    finally:
        if args.keep:
            print(f"projects kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(render_report(comparisons))
    if args.json:
        write_json(args.json, comparisons, {"benchmark": "local_overhead", "command": command})
    return exit_code(comparisons)


if __name__ == "__main__":
    raise SystemExit(main())
