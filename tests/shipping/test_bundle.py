"""sagelift_runtime.pyz: deterministic, self-contained, runs in a bare interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from sagelift.contract.config_files import (
    ChannelConfig,
    render_hyperparameters,
    render_input_data_config,
    render_resource_config,
    write_config_files,
)
from sagelift.contract.layout import TrainingLayout
from sagelift.runtime.bundle import BUNDLE_NAME, build_bundle


def test_bundle_bytes_are_reproducible() -> None:
    assert build_bundle().data == build_bundle().data


def test_bundle_entries_are_sorted_with_fixed_times_and_no_caches(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_bundle().write(tmp_path / BUNDLE_NAME)) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    assert names[0] == "__main__.py"
    assert names[1:] == sorted(names[1:])
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "sagelift/runtime/main.py" in names
    assert "sagelift/contract/environment.py" in names
    assert "sagelift/archives.py" in names
    assert "sagelift/packaging.py" not in names
    # Only stdlib-only parts ship: nothing that needs boto3 or the rest of the CLI.
    assert not any(n.startswith(("sagelift/storage/", "sagelift/cli/")) for n in names)
    assert "sagelift/aws.py" not in names


def test_bundle_runs_help_in_an_isolated_interpreter(tmp_path: Path) -> None:
    pyz = build_bundle().write(tmp_path / BUNDLE_NAME)
    result = subprocess.run(
        [sys.executable, "-S", "-I", str(pyz), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--code-tarball" in result.stdout
    assert "--hide-channel" in result.stdout


def test_bundle_runs_a_job_from_a_code_tarball_in_an_isolated_interpreter(
    tmp_path: Path,
) -> None:
    from sagelift.sourcedir import build_source_tarball

    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(
        "import json, os, sys\n"
        "out = {'channels': json.loads(os.environ['SM_CHANNELS']),\n"
        "       'cfg': sorted(json.loads(os.environ['SM_INPUT_DATA_CONFIG'])),\n"
        "       'env': sorted(k for k in os.environ if k.startswith('SM_CHANNEL_')),\n"
        "       'tenv': sorted(json.loads(os.environ['SM_TRAINING_ENV'])['channel_input_dirs']),\n"
        "       'argv': sys.argv[1:]}\n"
        "open(os.path.join(os.environ['SM_MODEL_DIR'], 'seen.json'), 'w').write(json.dumps(out))\n"
    )
    root = tmp_path / "opt-ml"
    layout = TrainingLayout(root)
    for directory in layout.directories(("train", "sagelift-code")):
        directory.mkdir(parents=True, exist_ok=True)
    tarball = build_source_tarball(source, layout.channel_dir("sagelift-code") / "sourcedir.tar.gz")
    pyz = build_bundle().write(layout.channel_dir("sagelift-code") / BUNDLE_NAME)
    write_config_files(
        layout,
        hyperparameters=render_hyperparameters(
            {"epochs": 2}, program="train.py", submit_directory=None, job_name="j", region="r"
        ),
        input_data_config=render_input_data_config(
            {"train": ChannelConfig(), "sagelift-code": ChannelConfig()}
        ),
        resource_config=render_resource_config(instance_type="ml.m5.large"),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-I",
            str(pyz),
            "--root",
            str(root),
            "--code-tarball",
            str(tarball.path),
            "--hide-channel",
            "sagelift-code",
            "--program",
            "train.py",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads((layout.model_dir / "seen.json").read_text())
    assert seen == {
        "channels": ["train"],
        "cfg": ["train"],
        "env": ["SM_CHANNEL_TRAIN"],
        "tenv": ["train"],
        "argv": ["--epochs", "2"],
    }
    assert (layout.code_dir / "train.py").is_file()
    assert layout.success_file.exists()
