"""A finished local job keeps its model once (as model.tar.gz), and packing and unpacking a
large model say how far they have come."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sagelift.archives import PROGRESS_MIN_BYTES, ProgressLines
from tests.conftest import MakeProject

MiB = 1024 * 1024
SIZE = PROGRESS_MIN_BYTES + 4 * MiB

# Writes a model of SIZE zero bytes (sparse on disk) next to the fixture's small files.
WRITE_WEIGHTS = f"""
import os
with open(os.path.join(os.environ["SM_MODEL_DIR"], "weights.bin"), "wb") as f:
    f.truncate({SIZE})
"""


def sagelift(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


def test_a_large_model_is_kept_once_and_its_packing_shows_progress(
    make_project: MakeProject, clean_environ: dict[str, str], tmp_path: Path
) -> None:
    project = make_project("ok")
    train = project / "train.py"
    train.write_text(train.read_text() + WRITE_WEIGHTS)

    run = sagelift(project, "run", env=clean_environ)
    assert run.returncode == 0, run.stderr
    # The job's log, which `run` streams to stdout, carries the progress lines.
    assert "sagelift: packing model.tar.gz: " in run.stdout, run.stdout
    assert "(100%)" in run.stdout

    # Nowhere under the project (the job's record and layout, the output path) are the
    # model's bytes kept unpacked; model.tar.gz is there.
    unpacked = [p for p in project.rglob("*") if p.is_file() and p.stat().st_size == SIZE]
    assert unpacked == []
    tarballs = list(project.rglob("model.tar.gz"))
    assert len(tarballs) == 1
    (job_dir,) = (project / ".sagelift" / "jobs").iterdir()
    model_dir = job_dir / "opt-ml" / "model"
    assert not model_dir.exists() or list(model_dir.iterdir()) == []

    dest = tmp_path / "fetched"
    fetch = sagelift(project, "fetch", "last", str(dest), env=clean_environ)
    assert fetch.returncode == 0, fetch.stderr
    assert "unpacking model.tar.gz: " in fetch.stderr
    assert (dest / "weights.bin").stat().st_size == SIZE
    assert (dest / "model.json").is_file()


def test_progress_lines_are_throttled_and_end_at_100_percent() -> None:
    lines: list[str] = []
    now = [0.0]
    progress = ProgressLines("packing model.tar.gz", lines.append, clock=lambda: now[0])
    total = 2050 * MiB
    for step in range(1, 11):
        now[0] = step * 0.5
        progress(total * step // 10, total)
    assert lines[0] == "packing model.tar.gz: 205.0 MiB of 2.0 GiB (10%)"
    assert lines[-1] == "packing model.tar.gz: 2.0 GiB of 2.0 GiB (100%)"
    assert len(lines) == 4  # at 0.5 s, 2.5 s, 4.5 s, and the end
    small: list[str] = []
    ProgressLines("packing model.tar.gz", small.append)(MiB, MiB)
    assert small == []
