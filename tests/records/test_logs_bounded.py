"""Following a job's output takes bounded memory whatever the job prints.

A line without a newline (a progress bar redrawn with ``\\r``, a huge dump) is streamed as it
comes: ``\\r`` ends a line for streaming, and a line longer than 64 KiB comes in pieces. The log
file keeps every byte; metric lines are still whole lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sagelift import records
from sagelift.backends.host import HostJobs
from sagelift.backends.loglines import MAX_LINE_BYTES, LineSplitter
from sagelift.job import JobHandle, JobState, JobStatus
from sagelift.spec import MetricDefinition
from sagelift.tracking.metrics import parse_metrics


def split(chunks: list[bytes], max_bytes: int = MAX_LINE_BYTES) -> list[str]:
    splitter = LineSplitter(max_bytes)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.close()


def test_newlines_carriage_returns_and_empty_lines() -> None:
    assert split([b"a\nb\r\nc\rd\n\ne"]) == ["a", "b", "c", "d", "", "e"]
    assert split([b"\r 10%\r 20%\r 30%\n"]) == [" 10%", " 20%", " 30%"]
    # \r\n cut between two reads is one break, not an extra empty line.
    assert split([b"x\r", b"\ny\n"]) == ["x", "y"]
    assert split([b"x", b"y", b"\n"]) == ["xy"]


def test_a_long_line_comes_in_pieces_cut_between_characters() -> None:
    text = "é" * 10 + "z"  # 2-byte characters: a cut at 7 bytes would split one
    lines = split([text.encode()], max_bytes=7)
    assert "".join(lines) == text
    assert all(len(line.encode()) <= 7 for line in lines)
    assert "\ufffd" not in "".join(lines)
    # A line ending exactly at a cut gives no empty line after it.
    assert split([b"abcdefgh\n", b"i\n"], max_bytes=4) == ["abcd", "efgh", "i"]


def test_memory_stays_bounded_for_a_line_without_end() -> None:
    splitter = LineSplitter()
    emitted = 0
    for _ in range(200):
        for line in splitter.feed(b"x" * 65536):
            assert len(line) <= MAX_LINE_BYTES
            emitted += len(line)
        assert len(splitter._pending) <= MAX_LINE_BYTES
    emitted += sum(len(line) for line in splitter.close())
    assert emitted == 200 * 65536


def test_host_logs_of_a_long_line_and_a_progress_bar(tmp_path: Path) -> None:
    record_dir = tmp_path / "job"
    record_dir.mkdir()
    body = b"y" * (3 * MAX_LINE_BYTES + 5) + b"\r epoch 1 loss=0.5\r epoch 2 loss=0.25\n"
    (record_dir / records.LOG_FILE).write_bytes(body)
    records.write_status(
        record_dir,
        JobStatus(
            name="job",
            backend="local",
            state=JobState.COMPLETED,
            secondary_status="Completed",
            created_at=records.now(),
        ),
    )
    handle = JobHandle(backend="local", name="job", record_dir=record_dir)
    lines = list(HostJobs("local").logs(handle, follow=True))
    assert [len(line) for line in lines[:4]] == [MAX_LINE_BYTES] * 3 + [5]
    assert lines[4:] == [" epoch 1 loss=0.5", " epoch 2 loss=0.25"]
    points = parse_metrics(lines, [MetricDefinition(name="loss", regex=r"loss=([0-9.]+)")])
    assert [(p.value, p.step) for p in points] == [(0.5, 1), (0.25, 2)]


SCRIPT = """\
import sys
piece = "x" * 65536
for _ in range(80):
    sys.stdout.write(piece)
for pct in range(0, 101, 25):
    sys.stdout.write(f"\\r{pct}%")
sys.stdout.write("\\nloss=0.5\\n")
"""


@pytest.fixture
def long_line_project(tmp_path: Path) -> Path:
    project = tmp_path / "longline"
    project.mkdir()
    (project / "train.py").write_text(SCRIPT)
    (project / "sagelift.toml").write_text('entry_point = "train.py"\n')
    return project


def test_run_streams_a_5_mb_line_and_the_log_keeps_every_byte(
    long_line_project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(long_line_project), "run"],
        capture_output=True,
        env={**os.environ, "HOME": str(home)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert max(len(line) for line in lines) <= MAX_LINE_BYTES
    xs = [line for line in lines if line and set(line) == {"x"}]
    assert sum(map(len, xs)) == 80 * 65536
    end = lines.index("loss=0.5")
    assert lines[end - 5 : end] == ["0%", "25%", "50%", "75%", "100%"]

    (record_dir,) = records.jobs_root(long_line_project).iterdir()
    log = (record_dir / records.LOG_FILE).read_bytes()
    expected = b"x" * (80 * 65536) + b"".join(b"\r%d%%" % p for p in range(0, 101, 25))
    assert expected + b"\nloss=0.5\n" in log
