"""Peak memory of ``sagelift run`` following a job that prints one 100 MB line.

Two throw-away projects: ``long line`` writes ``--mb`` MiB of ``x`` without a newline (then a
``\\r`` progress redraw and a newline), ``short lines`` writes the same bytes as 80-byte lines
(the baseline: the memory following any output needs). Each runs under ``sagelift run`` in a
subprocess; its peak RSS (``ru_maxrss`` from ``os.wait4``, which covers the CLI and the
short-lived fork it waits for, not the detached supervisor or the script) is the first figure.
The second is the supervisor's: it is detached (no ``wait4`` reaches it), so a thread polls its
high-water mark (``VmHWM`` in ``/proc/<pid>/status``, the pid from ``supervisor.pid`` in the
job's record directory) every few milliseconds until it exits, and keeps the last value read.

Target: each peak RSS on the long line ≤ 64 MiB, printed as a ratio to the target (≤ 1),
beside the baseline's. A run that does not exit 0 or whose output lacks the bytes fails.

    python benchmarks/long_line.py [--mb 100] [--json out.json]

Exit status: 0 the target met, 1 missed, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _harness import clean_environment, describe_machine, fail, precompile_sagelift, render_table

TARGET_MIB = 64.0

LONG = """\
import sys
piece = "x" * (1 << 20)
for _ in range({mb}):
    sys.stdout.write(piece)
sys.stdout.write("\\r100%\\n")
"""

SHORT = """\
import sys
line = "x" * 79 + "\\n"
block = line * ((1 << 20) // 80)
for _ in range({mb}):
    sys.stdout.write(block)
sys.stdout.write("100%\\n")
"""


class SupervisorWatch(threading.Thread):
    """Polls the peak RSS of the supervisor of the first job that appears under ``project``."""

    def __init__(self, project: Path) -> None:
        super().__init__(daemon=True)
        self.jobs = project / ".sagelift" / "jobs"
        self.peak_kib = 0
        self.pid: int | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        while self.pid is None and not self.finished.is_set():
            for pid_file in self.jobs.glob("*/supervisor.pid"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    self.pid = int(pid_file.read_text().split()[0])
            time.sleep(0.005)
        status = Path(f"/proc/{self.pid}/status")
        while self.pid is not None:
            try:
                text = status.read_text()
            except OSError:
                return  # exited: the last value read stands
            if "State:\tZ" in text:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            time.sleep(0.002)


def peak_rss(project: Path, env: dict[str, str], sink: Path) -> tuple[float, float, float, int]:
    """(CLI peak RSS in MiB, supervisor peak RSS in MiB, seconds, bytes of stdout) of
    ``sagelift run`` in ``project``."""
    watch = SupervisorWatch(project)
    watch.start()
    with open(sink, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "sagelift", "run", "-q"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    watch.finished.set()
    watch.join(timeout=30)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        fail(f"sagelift run in {project} exited with {code}")
    if not watch.peak_kib:
        fail(f"{project}: the job's supervisor was not seen (no supervisor.pid)")
    return usage.ru_maxrss / 1024, watch.peak_kib / 1024, elapsed, sink.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=Path(".cache"))
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    print(describe_machine())
    precompile_sagelift()
    options.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sagelift-longline-", dir=options.workdir)).resolve()
    figures = {}
    try:
        env = clean_environment(work / "config")
        env["HOME"] = str(work / "home")
        for label, script in (("short lines", SHORT), ("long line", LONG)):
            project = work / label.replace(" ", "-")
            project.mkdir()
            (project / "train.py").write_text(script.format(mb=options.mb))
            (project / "sagelift.toml").write_text('entry_point = "train.py"\n')
            rss, sup_rss, seconds, size = peak_rss(project, env, work / f"{project.name}.out")
            if size < options.mb * ((1 << 20) // 80) * 80:
                fail(f"{label}: sagelift run printed {size} bytes, fewer than the job wrote")
            figures[label] = {
                "peak_rss_mib": rss,
                "supervisor_peak_rss_mib": sup_rss,
                "seconds": seconds,
                "stdout_bytes": size,
            }
            print(
                f"  {label:<12} CLI peak RSS {rss:.1f} MiB, supervisor {sup_rss:.1f} MiB, "
                f"{seconds:.1f} s, {size} bytes out"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    verdicts = []
    for who, key in (("CLI", "peak_rss_mib"), ("supervisor", "supervisor_peak_rss_mib")):
        long_rss = figures["long line"][key]
        ratio = long_rss / TARGET_MIB
        verdicts.append("PASS" if ratio <= 1.0 else "MISS")
        rows.append(
            [
                f"{who} peak RSS, {options.mb} MiB of output",
                f"{figures['short lines'][key]:.1f} MiB",
                f"{long_rss:.1f} MiB",
                f"{ratio:.3f}× of target",
                f"≤ {TARGET_MIB:.0f} MiB",
                verdicts[-1],
            ]
        )
    verdict = "PASS" if all(v == "PASS" for v in verdicts) else "MISS"
    print()
    print(render_table(["figure", "short lines", "long line", "ratio", "target", "result"], rows))
    if options.json:
        options.json.write_text(
            json.dumps(
                {"machine": describe_machine(), "mb": options.mb, "figures": figures}, indent=2
            )
            + "\n"
        )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
