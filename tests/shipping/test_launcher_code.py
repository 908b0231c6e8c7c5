"""The launcher's --code-tarball and the emulator's request checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sagelift.aws import AwsSettings
from sagelift.backends.emulator import container_argv, submit_request
from sagelift.contract.config_files import (
    render_hyperparameters,
    render_input_data_config,
    render_resource_config,
    write_config_files,
)
from sagelift.contract.layout import TrainingLayout
from sagelift.errors import SageliftError
from sagelift.sourcedir import build_source_tarball


def _layout(tmp_path: Path) -> TrainingLayout:
    layout = TrainingLayout(tmp_path / "opt-ml")
    for directory in layout.directories():
        directory.mkdir(parents=True, exist_ok=True)
    write_config_files(
        layout,
        hyperparameters=render_hyperparameters(
            {}, program="train.py", submit_directory=None, job_name="j", region="r"
        ),
        input_data_config=render_input_data_config({}),
        resource_config=render_resource_config(instance_type="ml.m5.large"),
    )
    return layout


def _tarball(tmp_path: Path, body: str) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(body)
    return build_source_tarball(source, tmp_path / "sourcedir.tar.gz").path


def _launch(layout: TrainingLayout, tarball: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sagelift.runtime",
            "--root",
            str(layout.root),
            "--code-tarball",
            str(tarball),
            "--program",
            "train.py",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_code_tarball_is_not_extracted_over_existing_code(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    (layout.code_dir / "train.py").write_text("print('already here')\n")
    result = _launch(layout, _tarball(tmp_path, "print('from the tarball')\n"))
    assert result.returncode == 0, result.stderr
    assert "already here" in result.stdout


def test_a_missing_code_tarball_fails_with_a_failure_file(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    result = _launch(layout, tmp_path / "absent.tar.gz")
    assert result.returncode == 3
    assert "absent.tar.gz" in layout.failure_file.read_text()


def test_container_paths_are_mapped_and_root_is_passed(tmp_path: Path) -> None:
    request = {
        "AlgorithmSpecification": {
            "ContainerEntrypoint": ["python3", "/opt/ml/input/data/c/sagelift_runtime.pyz"],
            "ContainerArguments": ["--code-tarball", "/opt/ml/input/data/c/x.tar.gz", "/opt/mlx"],
        }
    }
    argv = container_argv(request, root=tmp_path, python="/py")
    assert argv == [
        "/py",
        f"{tmp_path}/input/data/c/sagelift_runtime.pyz",
        "--root",
        str(tmp_path),
        "--code-tarball",
        f"{tmp_path}/input/data/c/x.tar.gz",
        "/opt/mlx",
    ]


def test_request_without_an_entry_point_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    request = {
        "TrainingJobName": "no-entry",
        "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    with pytest.raises(SageliftError) as caught:
        submit_request(request, project_dir=tmp_path, aws=AwsSettings())
    assert caught.value.exit_code == 2
    assert not (tmp_path / ".sagelift").exists()
