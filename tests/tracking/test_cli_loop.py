"""Closing the loop from the command line: fetch --dvc, fetch --from-mlflow, track, ls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, dump_toml
from tests.tracking.mlflow_server import MlflowServer, free_port
from tests.tracking.test_mlflow_runs import PROJECTS, history
from tests.tracking.test_mlflow_runs import client as mlflow_client

pytestmark = pytest.mark.slow

DVC = str(Path(sys.executable).with_name("dvc"))


def sagelift(project: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagelift", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home)},
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def project_with(tmp_path: Path, source: Path, config: dict[str, Any]) -> Path:
    project = tmp_path / "proj"
    shutil.copytree(source, project)
    (project / "sagelift.toml").write_text(
        dump_toml({"entry_point": "train.py", **config}), encoding="utf-8"
    )
    return project


def test_fetch_dvc_tracks_the_model_and_fetch_from_mlflow_gets_the_same_model(
    tmp_path: Path,
) -> None:
    pytest.importorskip("dvc")
    home = tmp_path / "home"
    home.mkdir()
    project = project_with(
        tmp_path, FIXTURES / "ok", {"hyperparameters": {"epochs": 4}, "tracking": {"uri": "sqlite"}}
    )
    for argv in (
        ("git", "init", "-q"),
        ("git", "config", "user.email", "t@example.com"),
        ("git", "config", "user.name", "t"),
        (DVC, "init", "-q"),
        ("git", "add", "-A"),
        ("git", "commit", "-qm", "init"),
    ):
        subprocess.run(argv, cwd=project, check=True, capture_output=True)
    ok(sagelift(project, "run", "--quiet", home=home))
    job = json.loads(ok(sagelift(project, "ls", "--json", home=home)))[0]["name"]

    ok(sagelift(project, "fetch", "last", "--dvc", home=home))
    model = project / "models" / job
    assert json.loads((model / "model.json").read_text())["epochs"] == 4
    assert (project / "models" / f"{job}.dvc").is_file()
    status = subprocess.run(
        [DVC, "status", "--json"], cwd=project, capture_output=True, text=True, check=True
    )
    assert json.loads(status.stdout) == {}
    (model / "model.json").write_text("{}")
    status = subprocess.run(
        [DVC, "status", "--json"], cwd=project, capture_output=True, text=True, check=True
    )
    assert json.loads(status.stdout) != {}

    ok(sagelift(project, "fetch", job, "from-mlflow", "--from-mlflow", home=home))
    assert json.loads((project / "from-mlflow" / "model.json").read_text())["epochs"] == 4

    listing = ok(sagelift(project, "ls", home=home))
    store = f"sqlite:///{project / '.sagelift' / 'mlflow.db'}"
    assert store in listing
    assert "mlflow" in listing.splitlines()[0]


def test_track_records_a_job_run_while_the_server_was_down_once_it_is_up(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    project = project_with(
        tmp_path,
        PROJECTS / "metrics",
        {
            "hyperparameters": {"epochs": 3, "lr": 0.1},
            "metrics": {"loss": r"loss=([0-9.]+)"},
            "tracking": {"uri": url, "experiment": "replayed"},
        },
    )
    run = sagelift(project, "run", home=home)
    ok(run)
    job = json.loads(ok(sagelift(project, "ls", "--json", home=home)))[0]["name"]
    assert f"sagelift track {job}" in run.stderr
    assert ok(sagelift(project, "ls", home=home)).splitlines()[-1].rstrip().endswith("-")

    data = tmp_path / "mlflow-later"
    data.mkdir()
    server = MlflowServer(url=url, data=data)
    server.start()
    try:
        tracked = ok(sagelift(project, "track", "last", home=home))
        link = tracked.strip().splitlines()[-1]
        assert link.startswith(f"{url}/#/experiments/")
        run_id = link.rsplit("/", 1)[-1]
        got = mlflow_client(url).get_run(run_id)
        assert got.info.status == "FINISHED"
        assert got.info.run_name == job
        assert got.data.params == {"epochs": "3", "lr": "0.1"}
        assert history(url, run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 0.3333)]
        assert link in ok(sagelift(project, "ls", home=home))
    finally:
        server.stop()


def test_fetch_from_mlflow_is_guarded_as_fetch_is(tmp_path: Path) -> None:
    """The default destination is the project's models/<job> (not the working directory's),
    marked so it never ships as code; over --max-size nothing is written."""
    home = tmp_path / "home"
    home.mkdir()
    project = project_with(
        tmp_path, FIXTURES / "ok", {"hyperparameters": {"epochs": 2}, "tracking": {"uri": "sqlite"}}
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ok(sagelift(project, "run", "--quiet", home=home))
    job = json.loads(ok(sagelift(project, "ls", "--json", home=home)))[0]["name"]
    shipped = json.loads(ok(sagelift(project, "package", "--list", "--json", home=home)))

    fetch = ("-C", str(project), "fetch", job, "--from-mlflow")
    refused = sagelift(elsewhere, *fetch, "--max-size", "1", home=home)
    assert refused.returncode == 2, refused.stderr
    assert "over the fetch limit" in refused.stderr
    assert not (project / "models").exists()

    ok(sagelift(elsewhere, *fetch, home=home))
    model = project / "models" / job
    assert json.loads((model / "model.json").read_text())["epochs"] == 2
    assert (model / ".sagelift-fetched").is_file()
    assert list(elsewhere.iterdir()) == []
    again = json.loads(ok(sagelift(project, "package", "--list", "--json", home=home)))
    assert again["files"] == shipped["files"]
    assert again["sha256"] == shipped["sha256"]
