"""``kind = "framework"`` on this machine: the toolkit's behaviour without its image."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.backends.environments import unsatisfied_requirements
from sagelift.backends.local import opt_ml_bindable
from sagelift.errors import SpecError
from tests.framework.projects import facts_of, framework_project

needs_opt_ml = pytest.mark.skipif(
    not opt_ml_bindable(), reason="/opt/ml cannot be bound on this machine"
)


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home)}


def test_image_framework_makes_the_framework_kind_the_default(tmp_path, environ) -> None:
    spec = jobs.load_spec(framework_project(tmp_path / "p"), environ=environ)
    assert spec.kind == "framework"
    assert spec.dependencies == "auto"


def test_config_shows_the_kind_the_job_will_have(tmp_path, environ) -> None:
    """``sagelift config`` shows what the job gets: kind framework (and dependencies auto),
    each said to come from the default that image.framework changes."""
    shown = _config_json(framework_project(tmp_path / "p"), environ)
    assert shown["kind"] == {"value": "framework", "source": "default (image.framework is set)"}
    assert shown["dependencies"] == {"value": "auto", "source": "default (kind = framework)"}
    explicit = _config_json(framework_project(tmp_path / "q", kind="script"), environ)
    assert explicit["kind"]["value"] == "script"


def _config_json(project: Path, environ: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), "config", "--json"],
        capture_output=True,
        text=True,
        env={**environ, "PATH": os.environ.get("PATH", "")},
        timeout=60,
        check=True,
    )
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


def test_an_explicit_kind_wins_over_image_framework(tmp_path, environ) -> None:
    project = framework_project(tmp_path / "p", kind="script", dependencies="current")
    spec = jobs.load_spec(project, environ=environ)
    assert (spec.kind, spec.dependencies) == ("script", "current")


def test_the_framework_kind_runs_scripts_only(tmp_path, environ) -> None:
    project = framework_project(tmp_path / "p", kind="framework", entry_point="-m pkg.train")
    with pytest.raises(SpecError, match="framework"):
        jobs.load_spec(project, environ=environ)


def test_unsatisfied_requirements_are_named_with_why() -> None:
    text = "# comment\npytest\npytest>=999\nno-such-package-here==1.0\n-e .\n"
    missing = unsatisfied_requirements(text)
    assert missing[0].startswith("pytest>=999 (")
    assert missing[1] == "no-such-package-here (not installed)"
    assert "only pip can check it" in missing[2]
    assert len(missing) == 3


@needs_opt_ml
def test_a_helper_module_beside_the_entry_point_imports_from_any_process(tmp_path, environ) -> None:
    spec = jobs.load_spec(framework_project(tmp_path / "p"), environ=environ)
    result = jobs.run(spec)
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert result.status.model_artifacts is not None
    facts = facts_of(Path(result.status.model_artifacts))
    assert facts["greeting"] == facts["subprocess_greeting"] == "hello from mylib"
    assert facts["train_files"] == ["rows.csv"]


@needs_opt_ml
def test_requirements_the_environment_lacks_are_installed_over_it(
    tmp_path, environ, monkeypatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = framework_project(tmp_path / "p", extra_requirement=True)
    result = jobs.run(jobs.load_spec(project, environ=environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert result.status.model_artifacts is not None
    facts = facts_of(Path(result.status.model_artifacts))
    assert facts["tinydep"] == "tinydep 1.0"  # installed from requirements.txt
    assert facts["greeting"] == facts["subprocess_greeting"] == "hello from mylib"
    # The framework's own packages stay visible beneath the layer.
    layered = list((tmp_path / "cache" / "sagelift" / "venvs").glob("layered-*"))
    assert len(layered) == 1


@needs_opt_ml
def test_current_environment_mode_warns_when_requirements_are_unsatisfied(
    tmp_path, environ, caplog
) -> None:
    project = framework_project(tmp_path / "p", extra_requirement=True, dependencies="current")
    with caplog.at_level(logging.WARNING, logger="sagelift.backends.environments"):
        result = jobs.run(jobs.load_spec(project, environ=environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "requirements.txt is not satisfied" in warning
    assert "tinydep (not installed)" in warning
    assert result.status.model_artifacts is not None
    assert facts_of(Path(result.status.model_artifacts))["tinydep"] is None


@needs_opt_ml
def test_a_tensorflow_job_gets_the_model_dir_argument_as_on_sagemaker(tmp_path, environ) -> None:
    """The TensorFlow estimator adds ``model_dir``, so a published TF script's ``--model_dir``
    is there; on this machine it names the container's model dir. No other framework's."""
    tensorflow = {"framework": "tensorflow", "framework_version": "2.13.0"}
    project = framework_project(tmp_path / "tf", image=tensorflow, dependencies="current")
    result = jobs.run(jobs.load_spec(project, environ=environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert result.status.model_artifacts is not None
    facts = facts_of(Path(result.status.model_artifacts))
    assert facts["hyperparameters"]["model_dir"] == '"/opt/ml/model"'
    argv = facts["argv"]
    assert argv[argv.index("--model_dir") + 1] == "/opt/ml/model"
    sklearn = jobs.run(jobs.load_spec(framework_project(tmp_path / "sk"), environ=environ))
    assert sklearn.status.model_artifacts is not None
    facts = facts_of(Path(sklearn.status.model_artifacts))
    assert "model_dir" not in facts["hyperparameters"]
    assert "--model_dir" not in facts["argv"]


@needs_opt_ml
def test_a_model_dir_the_user_sets_reaches_a_tensorflow_script(tmp_path, environ) -> None:
    project = framework_project(
        tmp_path / "tf",
        image={"framework": "tensorflow", "framework_version": "2.13.0"},
        hyperparameters={"model_dir": "/opt/ml/model/export", "epochs": 2},
        dependencies="current",
    )
    result = jobs.run(jobs.load_spec(project, environ=environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert result.status.model_artifacts is not None
    facts = facts_of(Path(result.status.model_artifacts))
    assert facts["hyperparameters"]["model_dir"] == '"/opt/ml/model/export"'
    assert facts["hyperparameters"]["epochs"] == "2"
