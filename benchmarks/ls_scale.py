"""``sagelift ls`` over many job records: linear in their number and fast at 10,000.

Creates synthetic completed local job records (``records.write_record`` / ``write_status``, the
same files a real run leaves) in a throw-away project, then times ``sagelift ls`` and
``sagelift ls --json`` as subprocesses at ``--small`` (300) and ``--large`` (10,000) records.

Figures, each as a ratio:

* ``ls`` and ``ls --json`` at 10,000 records against the 1 s target (ratio ≤ 1);
* linearity: t(large) / t(small) divided by large / small (≤ 1 is linear or better; the fixed
  start-up cost makes it come out well under 1).

    python benchmarks/ls_scale.py [--repeat 3] [--large 10000] [--small 300] [--json out.json]

Exit status: 0 all targets met, 1 a target missed, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _harness import (
    BenchmarkError,
    clean_environment,
    describe_machine,
    fail,
    precompile_sagelift,
    render_table,
    run_command,
)

TARGET_SECONDS = 1.0


def make_records(project: Path, count: int) -> None:
    from sagelift import records
    from sagelift.job import JobRecord, JobState, JobStatus

    project.mkdir(parents=True)
    (project / "sagelift.toml").write_text('entry_point = "train.py"\n')
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for index in range(count):
        name = f"bench-{index:06d}"
        created = start + timedelta(seconds=index)
        record_dir = records.jobs_root(project) / name
        records.write_record(
            record_dir, JobRecord(name=name, backend="local", created_at=created, spec=None)
        )
        transitions = tuple(
            (step, created + timedelta(seconds=i))
            for i, step in enumerate(("Starting", "Downloading", "Training", "Completed"))
        )
        records.write_status(
            record_dir,
            JobStatus(
                name=name,
                backend="local",
                state=JobState.COMPLETED,
                secondary_status="Completed",
                created_at=created,
                started_at=created,
                ended_at=created + timedelta(seconds=3),
                exit_code=0,
                model_artifacts=str(record_dir / "output" / "model.tar.gz"),
                transitions=transitions,
            ),
        )
        (record_dir / records.LOG_FILE).write_text("done\n")


def time_ls(project: Path, args: list[str], env: dict[str, str], repeat: int) -> list[float]:
    argv = [sys.executable, "-m", "sagelift", "-C", str(project), "ls", *args]
    run_command(argv, cwd=project, env=env, expect="bench-000000")  # warm-up, and a check
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run_command(argv, cwd=project, env=env)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=Path(".cache"))
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    print(describe_machine())
    precompile_sagelift()
    options.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sagelift-ls-", dir=options.workdir)).resolve()
    try:
        env = clean_environment(work / "config")
        env["HOME"] = str(work / "home")
        medians: dict[tuple[int, str], float] = {}
        for count in (options.small, options.large):
            project = work / f"p{count}"
            started = time.perf_counter()
            make_records(project, count)
            print(f"{count} records written in {time.perf_counter() - started:.1f} s")
            for label, args in (("ls", []), ("ls --json", ["--json"])):
                times = time_ls(project, args, env, options.repeat)
                medians[count, label] = statistics.median(times)
                runs = ", ".join(f"{t:.3f}" for t in times)
                print(
                    f"  {label:<10} {count:>6} records: median {medians[count, label]:.3f} s "
                    f"[{runs}]"
                )
    except BenchmarkError as exc:
        fail(str(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows, verdicts = [], []
    scale = options.large / options.small
    for label in ("ls", "ls --json"):
        large, small = medians[options.large, label], medians[options.small, label]
        target_ratio = large / TARGET_SECONDS
        linearity = large / small / scale
        for name, ratio in (
            (f"{label} at {options.large} vs 1 s", target_ratio),
            (f"{label} linearity t({options.large})/t({options.small})/{scale:.3g}", linearity),
        ):
            verdict = "PASS" if ratio <= 1.0 else "MISS"
            verdicts.append(verdict)
            rows.append([name, f"{small:.3f} s", f"{large:.3f} s", f"{ratio:.3f}×", "≤ 1", verdict])
    print()
    print(
        render_table(
            ["figure", f"t({options.small})", f"t({options.large})", "ratio", "target", "result"],
            rows,
        )
    )
    if options.json:
        options.json.write_text(
            json.dumps(
                {
                    "machine": describe_machine(),
                    "medians": {f"{c} {label}": t for (c, label), t in medians.items()},
                },
                indent=2,
            )
            + "\n"
        )
    return 0 if all(v == "PASS" for v in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
