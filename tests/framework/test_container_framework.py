"""The README's container flow after ``sagelift init`` chose a framework image: ``sagelift image
build`` makes the official image ready (pulled when missing, with an ECR login) and ``sagelift
run --backend container`` runs it as SageMaker does: the image's own entry point with ``train``,
the toolkit installing ``requirements.txt`` and running ``sagemaker_program`` from the code
staged at ``/opt/ml/code``. Run on the stand-in scikit-learn 1.2-1 image (Python 3.9, the real
sagemaker-training toolkit), tagged with the official URI."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.base import JobState
from sagelift.errors import CredentialsError
from sagelift.images.builder import PodmanCLI
from sagelift.images.service import framework_ref, local_image
from sagelift.settings import ImageSettings, Settings
from tests.container_infra import image_namespace
from tests.framework.projects import facts_of, framework_project
from tests.framework.standin import OFFICIAL_URI, ensure_sklearn_standin
from tests.framework.test_rehearsal import BUCKET as REHEARSAL_BUCKET
from tests.framework.test_rehearsal import _aws_env, _cli, _init_project

pytestmark = pytest.mark.slow

__all__ = ["image_namespace"]

#: What a user with no AWS at hand has: the region sagelift falls back to is us-east-1.
LOCAL_ENV = {"SAGELIFT_AWS_REGION": "us-east-1"}


@pytest.fixture
def standin(podman_cli: Any, container_environ: dict[str, str]) -> str:
    return ensure_sklearn_standin(podman_cli)


def _model_facts(directory: Path) -> dict[str, Any]:
    """``facts.json`` of the one ``model.tar.gz`` under ``directory``."""
    (model,) = list(directory.rglob("model.tar.gz"))
    return facts_of(model)


@pytest.mark.parametrize("extra_requirement", [False, True], ids=["init-project", "extra-req"])
def test_the_init_project_runs_in_the_framework_image_with_its_toolkit(
    tmp_path: Path, moto_endpoint: str, standin: str, extra_requirement: bool
) -> None:
    project = _init_project(tmp_path, moto_endpoint, extra_requirement=extra_requirement)

    built = _cli(project, "image", "build", env=LOCAL_ENV)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == OFFICIAL_URI
    assert "framework image" in built.stderr

    done = _cli(project, "run", "--backend", "container", env=LOCAL_ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    (name,) = [r.name for r in records.scan_records(project)]
    record_dir = records.jobs_root(project) / name
    record = records.read_record(record_dir)
    assert record.backend == "container"
    assert record.container is not None
    assert (record.container.ref, record.container.mode) == (OFFICIAL_URI, "framework")
    status = jobs.describe(project, name)
    assert status.state is JobState.COMPLETED, status.failure_reason

    facts = _model_facts(record_dir)
    assert facts["python"] == "3.9"  # the image's own Python, through its toolkit
    assert facts["greeting"] == facts["subprocess_greeting"] == "hello from mylib"
    assert facts["train_files"] == ["rows.csv"]
    assert facts["tinydep"] == ("tinydep 1.0" if extra_requirement else None)
    logs = _cli(project, "logs", name, env=LOCAL_ENV)
    # The toolkit ran the program (its own log line), not sagelift's launcher.
    assert "Invoking user script" in logs.stdout
    assert "train_accuracy=0.9" in logs.stdout


def test_a_failing_script_gives_the_toolkits_failure_reason(
    tmp_path: Path, moto_endpoint: str, standin: str
) -> None:
    project = _init_project(tmp_path, moto_endpoint, extra_requirement=False)
    (project / "train.py").write_text("import sys\nsys.exit(7)\n")
    done = _cli(project, "run", "--backend", "container", env=LOCAL_ENV)
    assert done.returncode == 1, done.stdout + done.stderr
    (name,) = [r.name for r in records.scan_records(project)]
    status = jobs.describe(project, name)
    assert status.state is JobState.FAILED
    assert status.failure_reason is not None
    assert "ExitCode 7" in status.failure_reason


def test_the_max_runtime_stops_a_framework_job(
    tmp_path: Path, moto_endpoint: str, standin: str
) -> None:
    """No sagelift launcher runs inside the framework image: the supervisor stops the job at
    its max runtime, as the platform does."""
    project = _init_project(tmp_path, moto_endpoint, extra_requirement=False)
    (project / "train.py").write_text(
        "import time\nprint('started', flush=True)\ntime.sleep(600)\n"
    )
    toml = project / "sagelift.toml"  # the toolkit gives the script no grace after SIGTERM
    toml.write_text("stop_grace = 2\n" + toml.read_text())
    done = _cli(project, "run", "--backend", "container", "--max-runtime", "8", env=LOCAL_ENV)
    assert done.returncode != 0, done.stdout + done.stderr
    (name,) = [r.name for r in records.scan_records(project)]
    status = jobs.describe(project, name)
    assert (status.state, status.secondary_status) == (JobState.STOPPED, "MaxRuntimeExceeded")
    assert "MaxRuntimeInSeconds (8 s)" in (status.failure_reason or "")


def test_a_framework_job_without_a_framework_image_is_refused(tmp_path: Path) -> None:
    project = framework_project(tmp_path / "p")
    (project / "sagelift.toml").write_text('entry_point = "train.py"\nkind = "framework"\n')
    done = _cli(project, "run", "--backend", "container", env=LOCAL_ENV)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "kind = 'framework'" in done.stderr
    assert not (project / ".sagelift" / "jobs").exists() or not any(
        (project / ".sagelift" / "jobs").iterdir()
    )


class _Recorder:
    """A ``CommandRunner`` that records each argv and answers as podman would for an image
    that is in the local store only once it was pulled."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.pulled = False

    def __call__(
        self,
        argv: Sequence[str],
        *,
        stdin_text: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(argv), stdin_text))
        self.pulled = self.pulled or "pull" in argv
        if "inspect" in argv and not self.pulled:
            return subprocess.CompletedProcess(list(argv), 125, "", "Error: no such image")
        stdout = "sha256:" + "1" * 64 if "inspect" in argv else ""
        return subprocess.CompletedProcess(list(argv), 0, stdout, "")


def test_a_missing_framework_image_is_pulled_after_an_ecr_login_that_creates_nothing(
    tmp_path: Path, aws_settings: AwsSettings
) -> None:
    """The official image lives in AWS's account: the pull logs in with a token from
    GetAuthorizationToken (the password on stdin) and creates no repository in the user's
    account, unlike a push."""
    settings = Settings(
        aws=aws_settings, image=ImageSettings(framework="sklearn", container_cli="podman")
    )
    recorder = _Recorder()
    cli = PodmanCLI(runner=recorder)
    project = framework_project(tmp_path / "p")
    spec = jobs.load_spec(project, environ={"HOME": str(tmp_path)})
    ref = framework_ref(settings)
    registry = ref.split("/")[0]
    assert registry.endswith(".amazonaws.com")

    image = local_image(spec, settings, cli)

    assert (image.ref, image.mode) == (ref, "framework")
    argvs = [argv for argv, _ in recorder.calls]
    login = next(i for i, a in enumerate(argvs) if "login" in a)
    pull = next(i for i, a in enumerate(argvs) if "pull" in a)
    assert login < pull
    assert argvs[login][-1] == registry
    assert "--password-stdin" in argvs[login]
    assert argvs[login][argvs[login].index("--username") + 1] == "AWS"
    assert recorder.calls[login][1]  # the token went on stdin, never in argv
    assert argvs[pull][-1] == ref
    assert client("ecr", aws_settings).describe_repositories()["repositories"] == []


CHECKPOINTING = """\
import json, os
from sagelift.checkpoints import Checkpoints
import sagelift

ckpt = Checkpoints(os.path.join(os.environ["SM_MODEL_DIR"], "ckpt"))
for step in range(3):
    ckpt.save(step, b"state %d" % step)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "facts.json"), "w") as handle:
    json.dump({"latest_step": ckpt.latest_step(), "helper": sagelift.__file__}, handle)
"""


@pytest.mark.parametrize("backend", ["container", "rehearsal"])
def test_the_checkpoint_helper_imports_in_the_framework_image(
    tmp_path: Path,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    standin: str,
    backend: str,
) -> None:
    """The toolkit runs the script on the image's Python 3.9, with no sagelift installed and
    no launcher: the helper shipped beside the code is what imports."""
    project = _init_project(tmp_path, moto_endpoint, extra_requirement=False)
    (project / "train.py").write_text(CHECKPOINTING)
    if backend == "container":
        done = _cli(project, "run", "--backend", "container", env=LOCAL_ENV)
    else:
        client("s3", aws_settings).create_bucket(Bucket=REHEARSAL_BUCKET)
        rehearse = ("run", "--instance-type", "ml.m5.large", "--rehearse")
        done = _cli(project, *rehearse, env=_aws_env(moto_endpoint))
    assert done.returncode == 0, done.stdout + done.stderr
    (name,) = [r.name for r in records.scan_records(project)]
    if backend == "container":
        facts = _model_facts(records.jobs_root(project) / name)
    else:
        objects = client("s3", aws_settings).list_objects_v2(Bucket=REHEARSAL_BUCKET)["Contents"]
        key = next(o["Key"] for o in objects if o["Key"].endswith(f"{name}/output/model.tar.gz"))
        body = client("s3", aws_settings).get_object(Bucket=REHEARSAL_BUCKET, Key=key)["Body"]
        archive = tmp_path / "model.tar.gz"
        archive.write_bytes(body.read())
        facts = _model_facts(archive.parent)
    assert facts["latest_step"] == 2
    assert facts["helper"] == "/opt/ml/code/sagelift/__init__.py"


def test_without_aws_credentials_a_missing_framework_image_is_a_clear_error(
    tmp_path: Path, aws_settings: AwsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 3 naming the image and the ways out (log in, tag a local image, image.uri); no
    pull is attempted."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = Settings(
        aws=aws_settings, image=ImageSettings(framework="sklearn", container_cli="podman")
    )
    recorder = _Recorder()
    project = framework_project(tmp_path / "p")
    spec = jobs.load_spec(project, environ={"HOME": str(tmp_path)})
    with pytest.raises(CredentialsError) as raised:
        local_image(spec, settings, PodmanCLI(runner=recorder))
    assert framework_ref(settings) in raised.value.message
    assert "podman tag" in raised.value.hint
    assert raised.value.exit_code == 3
    assert not any("pull" in argv or "login" in argv for argv, _ in recorder.calls)


def test_the_dockerfile_a_framework_project_writes_builds_an_image_its_jobs_run(
    tmp_path: Path,
    moto_endpoint: str,
    standin: str,
    podman_cli: PodmanCLI,
    image_namespace: str,
) -> None:
    """``image dockerfile`` → build → ``image.uri``: the framework kind runs the user's own
    image (the framework image with the requirements installed ahead of time) through its
    toolkit, as SageMaker's "extend a prebuilt container" does."""
    project = _init_project(tmp_path, moto_endpoint, extra_requirement=False)
    written = _cli(project, "image", "dockerfile", env=LOCAL_ENV)
    assert written.returncode == 0, written.stderr
    own = f"localhost/{image_namespace}/extended:1"
    podman_cli.build(project, project / "Dockerfile", own)
    toml = project / "sagelift.toml"
    toml.write_text(toml.read_text().replace("[image]\n", f'[image]\nuri = "{own}"\n', 1))

    done = _cli(project, "run", "--backend", "container", env=LOCAL_ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    (name,) = [r.name for r in records.scan_records(project)]
    record = records.read_record(records.jobs_root(project) / name)
    assert record.container is not None
    assert record.container.ref == own
    facts = _model_facts(records.jobs_root(project) / name)
    assert facts["python"] == "3.9"
    assert facts["greeting"] == facts["subprocess_greeting"] == "hello from mylib"
    podman_cli.remove_image(own)
