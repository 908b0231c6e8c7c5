"""Start-up overhead of a local job run as N hosts, against the same job on one host.

A generated project whose ``train.py`` writes one model file per host and exits is run with
``sagelift run`` (the local backend) at ``instance_count`` 1, 2 and 4, interleaved,
``--repeat`` times each after one untimed round. Reported: the median wall time per N, the
extra time per extra host ``(median(N) - median(1)) / (N - 1)``, and the ratio
``median(N) / median(1)``. Target: each extra host adds at most 0.3 s.

Running several hosts needs Linux and root (a UTS and a mount namespace per host).

    python benchmarks/multihost_overhead.py [--repeat 5] [--hosts 1,2,4]

Exit status: 0 the target met, 1 missed, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_PER_HOST_S = 0.3
SCRIPT = """\
import os

with open(os.path.join(os.environ["SM_MODEL_DIR"], os.environ["SM_CURRENT_HOST"]), "w") as f:
    f.write("ok")
print("done", flush=True)
"""


def _project(root: Path, hosts: int) -> Path:
    project = root / f"hosts{hosts}"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT, encoding="utf-8")
    (project / "sagelift.toml").write_text(
        f'entry_point = "train.py"\ninstance_count = {hosts}\n', encoding="utf-8"
    )
    return project


def _run(project: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sagelift", "run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"sagelift run failed in {project}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hosts", default="1,2,4")
    args = parser.parse_args(argv)
    counts = sorted({int(n) for n in args.hosts.split(",")} | {1})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGELIFT_")}
    with tempfile.TemporaryDirectory(prefix="sagelift-multihost-") as tmp:
        env["HOME"] = tmp
        projects = {n: _project(Path(tmp), n) for n in counts}
        samples: dict[int, list[float]] = {n: [] for n in counts}
        try:
            for n in counts:
                _run(projects[n], env)  # warm-up: venv probe, page cache
            for _ in range(args.repeat):
                for n in counts:
                    samples[n].append(_run(projects[n], env))
        except RuntimeError as exc:
            print(f"benchmark could not run: {exc}", file=sys.stderr)
            return 2
    base = statistics.median(samples[1])
    print(f"{'hosts':>5}  {'median s':>9}  {'ratio':>6}  {'per extra host s':>16}")
    worst = 0.0
    for n in counts:
        median = statistics.median(samples[n])
        per_host = (median - base) / (n - 1) if n > 1 else 0.0
        worst = max(worst, per_host)
        extra = f"{per_host:16.3f}" if n > 1 else f"{'-':>16}"
        print(f"{n:>5}  {median:9.3f}  {median / base:6.2f}  {extra}")
    met = worst <= TARGET_PER_HOST_S
    print(
        f"target: each extra host adds <= {TARGET_PER_HOST_S} s; worst {worst:.3f} s: "
        + ("met" if met else "MISSED")
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
