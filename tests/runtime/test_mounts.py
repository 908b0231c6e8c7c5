"""``--bind-opt-ml``: the job sees its layout at /opt/ml; the host's mount table never changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from sagelift.errors import UnsupportedFeature
from sagelift.runtime.mounts import prepare_view
from tests.runtime.conftest import MakeJob, launcher_env

OPT_ML = Path("/opt/ml")

READER_SCRIPT = """
import json, os
with open("/opt/ml/input/config/hyperparameters.json") as f:
    hps = json.load(f)
with open("/opt/ml/model/seen.json", "w") as f:
    json.dump({"hps": hps, "model_dir": os.environ["SM_MODEL_DIR"], "cwd": os.getcwd()}, f)
"""


def _mounts_on(path: Path) -> list[str]:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [line for line in lines if line.split()[4] == str(path)]


def _listing(path: Path) -> list[str] | None:
    return sorted(os.listdir(path)) if path.is_dir() else None


def test_bound_job_reads_opt_ml_and_the_host_is_untouched(make_job: MakeJob) -> None:
    before = _listing(OPT_ML)
    mounts_before = _mounts_on(OPT_ML)
    job = make_job({"epochs": 2})
    job.write("train.py", READER_SCRIPT)
    result = job.run("--bind-opt-ml", "auto")
    status = job.status()
    if status["opt_ml"].startswith("unavailable"):
        pytest.skip(f"no private mount namespace here: {status['opt_ml']}")
    assert result.returncode == 0, result.stderr
    assert status["opt_ml"] == "bound"
    seen = json.loads((job.layout.model_dir / "seen.json").read_text())
    assert seen["hps"] == json.loads(job.layout.hyperparameters_file.read_text())
    assert seen["hps"]["epochs"] == "2"
    assert seen["model_dir"] == "/opt/ml/model"
    assert seen["cwd"] == "/opt/ml/code"
    assert job.layout.success_file.exists()
    assert _mounts_on(OPT_ML) == mounts_before
    assert _listing(OPT_ML) == (before if before is not None else [])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs Linux, root and setpriv to become an unprivileged user",
)
def test_unprivileged_user_binds_through_a_user_namespace(make_job: MakeJob) -> None:
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if python is None:
        pytest.skip("needs a system python3 that an unprivileged user can run")
    OPT_ML.mkdir(parents=True, exist_ok=True)  # what the launcher does itself as root
    base = Path(tempfile.mkdtemp(prefix="sagelift-nobody-"))
    try:
        base.chmod(0o777)
        job = replace(make_job({"epochs": 2}, base=base), python=(python, "-S"))
        job.write("train.py", READER_SCRIPT)
        for path in (base, *base.rglob("*")):
            path.chmod(0o777)
        result = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                *job.argv("--bind-opt-ml", "auto"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=launcher_env(),
        )
        unreadable = ("Permission denied", "No module named")
        if not job.status_file.exists() and any(m in result.stderr for m in unreadable):
            # e.g. a checkout under a 0700 directory: the unprivileged user cannot read sagelift.
            pytest.skip(f"sagelift or {python} is not readable by an unprivileged user here")
        status = job.status()
        if status["opt_ml"].startswith("unavailable"):
            pytest.skip(f"no user namespace here: {status['opt_ml']}")
        assert result.returncode == 0, result.stderr
        seen = json.loads((job.layout.model_dir / "seen.json").read_text())
        assert seen["hps"]["epochs"] == "2"
        assert seen["model_dir"] == "/opt/ml/model"
        assert (job.layout.model_dir / "seen.json").stat().st_uid == 65534
        assert _mounts_on(OPT_ML) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_auto_falls_back_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    root = tmp_path / "ml"
    root.mkdir()
    view = prepare_view(root, "auto", target=blocker)
    assert view.root == root
    assert view.opt_ml.startswith("unavailable: ")
    assert "not a directory" in view.opt_ml
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "not bound" in warnings[0].getMessage()


def test_require_fails_with_a_hint(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    root = tmp_path / "ml"
    root.mkdir()
    with pytest.raises(UnsupportedFeature, match="cannot show the job's layout") as caught:
        prepare_view(root, "require", target=blocker)
    assert caught.value.hint
    assert caught.value.exit_code == 2


def test_off_changes_nothing(tmp_path: Path) -> None:
    view = prepare_view(tmp_path, "off")
    assert (view.root, view.opt_ml) == (tmp_path, "off")


def test_require_refusal_exits_2_from_the_cli(make_job: MakeJob) -> None:
    if sys.platform.startswith("linux"):
        pytest.skip("binding is possible in principle on Linux; covered by prepare_view tests")
    job = make_job()
    job.write("train.py", "")
    result = job.run("--bind-opt-ml", "require")
    assert result.returncode == 2
    assert "Linux-only" in result.stderr
