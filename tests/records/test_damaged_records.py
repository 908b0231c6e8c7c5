"""One bad or half-written record never takes the other jobs down; cloud rows degrade.

``ls`` lists every record: a damaged one as a ``damaged`` row with a hint to move it aside, a
record without a status yet as ``creating``, a cloud job SageMaker cannot report with its last
recorded status. Commands on the other jobs work; commands on the damaged one exit 2 saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sagelift import records
from sagelift.aws import AwsSettings
from sagelift.job import CloudJob, JobRecord, JobState, JobStatus

UNREACHABLE = "http://127.0.0.1:9"


def sagelift(project: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home)},
        timeout=120,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def two_jobs(make_project, home: Path) -> tuple[Path, str, str]:
    """A project with two completed local jobs: (project, older, newer)."""
    project = make_project("ok")
    names = []
    for _ in range(2):
        result = sagelift(project, "run", "--detach", home=home)
        assert result.returncode == 0, result.stderr
        names.append(result.stdout.strip().splitlines()[-1])
        assert sagelift(project, "logs", "-f", names[-1], home=home).returncode == 0
    return project, names[0], names[1]


def truncate(path: Path, keep: int = 40) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def assert_other_job_works(project: Path, name: str, home: Path) -> None:
    for args in (
        ["describe", name],
        ["describe", "--json", name],
        ["logs", name],
        ["stop", name],
        ["fetch", name, str(project.parent / f"fetched-{name}")],
    ):
        result = sagelift(project, *args, home=home)
        assert result.returncode == 0, (args, result.stderr)
        assert "internal error" not in result.stderr


def assert_damaged_refused(project: Path, name: str, home: Path, needle: str) -> None:
    for args in (["describe", name], ["logs", "-f", name], ["stop", name], ["fetch", name]):
        result = sagelift(project, *args, home=home)
        assert result.returncode == 2, (args, result.stderr)
        assert needle in result.stderr, (args, result.stderr)
        assert "hint: move it aside: mv" in result.stderr
        assert "Traceback" not in result.stderr


def ls_rows(project: Path, home: Path) -> dict[str, dict[str, object]]:
    result = sagelift(project, "ls", "--json", home=home)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


@pytest.mark.parametrize("damaged_file", [records.JOB_FILE, records.STATUS_FILE])
def test_a_truncated_record_is_listed_as_damaged_and_hides_nothing(
    two_jobs: tuple[Path, str, str], home: Path, damaged_file: str
) -> None:
    project, older, newer = two_jobs
    truncate(records.jobs_root(project) / older / damaged_file)

    result = sagelift(project, "ls", home=home)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
    assert rows == {newer: "Completed", older: "damaged"}
    assert f"job record {older} is damaged" in result.stderr
    assert f"hint: move it aside: mv {records.jobs_root(project) / older}" in result.stderr

    listed = ls_rows(project, home)
    assert listed[older]["condition"] == "damaged"
    assert damaged_file in str(listed[older]["reason"])
    assert listed[newer]["state"] == "Completed"

    assert_other_job_works(project, newer, home)
    assert_damaged_refused(project, older, home, damaged_file)


def test_a_record_of_the_wrong_shape_is_damaged_not_an_internal_error(
    two_jobs: tuple[Path, str, str], home: Path
) -> None:
    project, older, newer = two_jobs
    path = records.jobs_root(project) / older / records.JOB_FILE
    data = json.loads(path.read_text())
    data["spec"] = "not a spec"
    path.write_text(json.dumps(data))

    assert ls_rows(project, home)[older]["condition"] == "damaged"
    assert_other_job_works(project, newer, home)
    result = sagelift(project, "describe", older, home=home)
    assert result.returncode == 2, result.stderr
    assert "is damaged" in result.stderr


def test_a_record_being_created_is_listed_as_creating(make_project, home: Path) -> None:
    project = make_project("ok")
    created = datetime.now(timezone.utc)
    record_dir = records.jobs_root(project) / "ok-being-created"
    records.write_record(
        record_dir,
        JobRecord(name="ok-being-created", backend="local", created_at=created, spec=None),
    )

    result = sagelift(project, "ls", home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[:3] == ["ok-being-created", "creating", "Starting"]

    result = sagelift(project, "describe", "ok-being-created", home=home)
    assert result.returncode == 0, result.stderr
    assert "being created" in result.stdout
    result = sagelift(project, "logs", "ok-being-created", home=home)
    assert (result.returncode, result.stdout) == (0, "")
    result = sagelift(project, "logs", "-f", "ok-being-created", home=home)
    assert result.returncode == 2, result.stderr
    assert "still being created" in result.stderr

    # Staging: a status, but no log yet.
    records.write_status(
        record_dir,
        JobStatus(
            name="ok-being-created",
            backend="local",
            state=JobState.IN_PROGRESS,
            secondary_status="Downloading",
            created_at=created,
        ),
    )
    result = sagelift(project, "logs", "ok-being-created", home=home)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


def write_cloud_job(project: Path, name: str, endpoint: str, created: datetime) -> None:
    record_dir = records.jobs_root(project) / name
    aws = AwsSettings(region="us-east-1", endpoint_url=endpoint, max_attempts=2)
    records.write_record(
        record_dir,
        JobRecord(
            name=name,
            backend="sagemaker",
            created_at=created,
            spec=None,
            cloud=CloudJob(
                arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
                region="us-east-1",
                account="123456789012",
                aws=aws,
            ),
        ),
    )
    records.write_status(
        record_dir,
        JobStatus(
            name=name,
            backend="sagemaker",
            state=JobState.IN_PROGRESS,
            secondary_status="Training",
            created_at=created,
        ),
    )


def test_vanished_cloud_job_degrades_and_local_jobs_stay_listed(
    two_jobs: tuple[Path, str, str], home: Path, moto_endpoint: str
) -> None:
    project, older, newer = two_jobs
    created = datetime.now(timezone.utc) + timedelta(seconds=5)
    write_cloud_job(project, "cloud-vanished", moto_endpoint, created)

    result = sagelift(project, "ls", home=home)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "unknown (job not found in SageMaker)" in lines[1]
    assert lines[1].split()[0] == "cloud-vanished"
    assert {line.split()[0] for line in lines[2:]} == {older, newer}
    assert "last recorded status" in result.stderr

    row = ls_rows(project, home)["cloud-vanished"]
    assert (row["condition"], row["state"], row["reason"]) == (
        "unknown",
        "InProgress",
        "job not found in SageMaker",
    )

    result = sagelift(project, "describe", "cloud-vanished", home=home)
    assert result.returncode == 2, result.stderr
    assert "SageMaker has no training job" in result.stderr
    assert "last recorded status: InProgress" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert_other_job_works(project, newer, home)


def test_unreachable_endpoint_degrades_and_local_jobs_stay_listed(
    two_jobs: tuple[Path, str, str], home: Path, moto_endpoint: str
) -> None:
    project, older, newer = two_jobs
    created = datetime.now(timezone.utc) + timedelta(seconds=5)
    write_cloud_job(project, "cloud-a", UNREACHABLE, created)
    write_cloud_job(project, "cloud-b", UNREACHABLE, created + timedelta(seconds=1))

    result = sagelift(project, "ls", home=home)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(rows) == {"cloud-a", "cloud-b", older, newer}
    assert "unknown (endpoint unreachable)" in rows["cloud-a"]
    assert "unknown (endpoint unreachable)" in rows["cloud-b"]
    assert "Completed" in rows[older]
    assert "Completed" in rows[newer]
    assert "2 job(s) shown with their last recorded status" in result.stderr

    result = sagelift(project, "describe", "cloud-a", home=home)
    assert result.returncode == 3, result.stderr
    assert "cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr
    assert_other_job_works(project, newer, home)
