"""``--rehearse`` of the other two kinds, each in a real image against the moto server:

- dependencies-only (``kind = "script"``): the deps image ``sagelift image build`` makes, the
  request's ``ContainerEntrypoint`` (``python3 …/sagelift_runtime.pyz``) as the entry point;
  and the same request on the stand-in scikit-learn 1.2-1 image, whose python3 is 3.9;
- bring-your-own: a small image of its own built on the offline base, whose ENTRYPOINT reads
  ``/opt/ml/input/config/hyperparameters.json``, run as SageMaker runs it (``IMAGE train``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.base import JobState
from sagelift.images.base import BaseImage
from sagelift.images.builder import PodmanCLI
from tests.conftest import dump_toml
from tests.container_infra import cpu_base_image, image_namespace
from tests.framework.projects import facts_of, framework_project
from tests.framework.standin import ensure_sklearn_standin
from tests.framework.test_rehearsal import BUCKET, _aws_env, _cli, _model_facts

__all__ = ["cpu_base_image", "image_namespace"]

pytestmark = pytest.mark.slow

BYO_PROGRAM = """\
import json, os, sys

with open("/opt/ml/input/config/hyperparameters.json") as handle:
    hyperparameters = json.load(handle)
facts = {
    "hyperparameters": hyperparameters,
    "argv": sys.argv[1:],
    "sm_variables": sorted(k for k in os.environ if k.startswith("SM_")),
    "train_files": sorted(os.listdir("/opt/ml/input/data/train")),
}
with open("/opt/ml/model/facts.json", "w") as handle:
    json.dump(facts, handle)
print("byo done")
"""
BYO_CONTAINERFILE = """\
FROM {base}
COPY program.py /opt/program/program.py
ENTRYPOINT ["python3", "/opt/program/program.py"]
"""
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": 10}


@pytest.fixture
def bucket(aws_settings: AwsSettings, role_arn: str) -> str:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return BUCKET


def _script_project(tmp_path: Path, image_uri: str | None) -> Path:
    """A dependencies-only project (helper module beside train.py, one channel)."""
    project = tmp_path / "deps-only"
    if not project.exists():
        framework_project(project)
        (project / "requirements.txt").unlink()
    config: dict[str, Any] = {
        "entry_point": "train.py",
        "kind": "script",
        "channels": {"train": "data/train"},
        "hyperparameters": HYPERPARAMETERS,
    }
    if image_uri is not None:
        config["image"] = {"uri": image_uri}
    (project / "sagelift.toml").write_text(dump_toml(config), encoding="utf-8")
    return project


def _rehearse(project: Path, moto_endpoint: str) -> tuple[str, dict[str, Any]]:
    """Rehearse the project's job; its name and the request it would have sent."""
    done = _cli(
        project, "run", "--instance-type", "ml.m5.large", "--rehearse", env=_aws_env(moto_endpoint)
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    (name,) = [r.name for r in records.scan_records(project)]
    record = records.read_record(records.jobs_root(project) / name)
    assert record.backend == "rehearsal"
    assert record.cloud is not None
    assert record.cloud.arn is None
    return name, dict(record.cloud.request)


def _model_key(aws: AwsSettings, name: str) -> str:
    listing = client("s3", aws).list_objects_v2(Bucket=BUCKET)["Contents"]
    return next(o["Key"] for o in listing if o["Key"].endswith(f"{name}/output/model.tar.gz"))


def _assert_no_job_created(aws: AwsSettings) -> None:
    assert client("sagemaker", aws).list_training_jobs()["TrainingJobSummaries"] == []


def test_a_dependencies_only_job_rehearsed_in_its_deps_image_completes(
    tmp_path: Path,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    bucket: str,
    container_environ: dict[str, str],
) -> None:
    project = _script_project(tmp_path, None)
    built = _cli(project, "image", "build", env={})
    assert built.returncode == 0, built.stderr
    deps_ref = built.stdout.strip().splitlines()[-1]
    assert ":deps-" in deps_ref
    project = _script_project(tmp_path, deps_ref)
    name, request = _rehearse(project, moto_endpoint)
    _assert_no_job_created(aws_settings)
    algorithm = request["AlgorithmSpecification"]
    assert algorithm["TrainingImage"] == deps_ref
    assert algorithm["ContainerEntrypoint"][-1].endswith("sagelift-code/sagelift_runtime.pyz")
    status = jobs.describe(project, name)
    assert status.state is JobState.COMPLETED, status.failure_reason
    facts = _model_facts(aws_settings, _model_key(aws_settings, name))
    assert facts["argv"] == ["--num_round", "10", "--objective", "binary:logistic"]
    assert facts["greeting"] == facts["subprocess_greeting"] == "hello from mylib"
    assert facts["train_files"] == ["rows.csv"]


def test_a_dependencies_only_job_on_a_python_3_9_image_completes(
    tmp_path: Path,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    bucket: str,
    podman_cli: PodmanCLI,
    container_environ: dict[str, str],
) -> None:
    # The launcher as the entry point on the stand-in scikit-learn 1.2-1 image's Python 3.9:
    # the request that 0.1.0 sent for every default project, which the launcher refused.
    standin = ensure_sklearn_standin(podman_cli)
    project = _script_project(tmp_path, standin)
    name, request = _rehearse(project, moto_endpoint)
    assert request["AlgorithmSpecification"]["ContainerEntrypoint"][0] == "python3"
    status = jobs.describe(project, name)
    assert status.state is JobState.COMPLETED, status.failure_reason
    facts = _model_facts(aws_settings, _model_key(aws_settings, name))
    assert facts["python"] == "3.9"
    assert facts["argv"] == ["--num_round", "10", "--objective", "binary:logistic"]


@pytest.fixture
def byo_project(
    tmp_path: Path,
    podman_cli: PodmanCLI,
    cpu_base_image: BaseImage,
    image_namespace: str,
    container_environ: dict[str, str],
) -> Path:
    """A bring-your-own project: its image (on the offline base, ENTRYPOINT reading
    hyperparameters.json) and a sagelift.toml naming it, with one channel."""
    image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{image_namespace}/byo:1"
    with tempfile.TemporaryDirectory(prefix="sagelift-byo-") as tmp:
        context = Path(tmp)
        (context / "program.py").write_text(BYO_PROGRAM, encoding="utf-8")
        containerfile = context / "Containerfile"
        containerfile.write_text(BYO_CONTAINERFILE.format(base=cpu_base_image.ref))
        podman_cli.build(context, containerfile, image)
    project = tmp_path / "byo"
    (project / "data" / "train").mkdir(parents=True)
    (project / "data" / "train" / "rows.csv").write_text("1,2\n", encoding="utf-8")
    (project / "sagelift.toml").write_text(
        dump_toml(
            {
                "kind": "byo",
                "channels": {"train": "data/train"},
                "hyperparameters": HYPERPARAMETERS,
                "image": {"uri": image},
            }
        ),
        encoding="utf-8",
    )
    return project


def _assert_byo_facts(facts: dict[str, Any]) -> None:
    assert facts["hyperparameters"] == {"num_round": "10", "objective": "binary:logistic"}
    # SageMaker starts the image as `IMAGE train`: its ENTRYPOINT gets `train` and nothing
    # else; no SM_* variables (those are the toolkit's).
    assert facts["argv"] == ["train"]
    assert facts["sm_variables"] == []
    assert facts["train_files"] == ["rows.csv"]


def test_a_byo_job_rehearsed_in_its_own_image_reads_plain_hyperparameters(
    moto_endpoint: str, aws_settings: AwsSettings, bucket: str, byo_project: Path
) -> None:
    name, request = _rehearse(byo_project, moto_endpoint)
    _assert_no_job_created(aws_settings)
    algorithm = request["AlgorithmSpecification"]
    assert "ContainerEntrypoint" not in algorithm
    assert request["HyperParameters"] == {"num_round": "10", "objective": "binary:logistic"}
    assert not any(c["ChannelName"] == "sagelift-code" for c in request["InputDataConfig"])
    status = jobs.describe(byo_project, name)
    assert status.state is JobState.COMPLETED, status.failure_reason
    _assert_byo_facts(_model_facts(aws_settings, _model_key(aws_settings, name)))


def test_a_byo_job_on_the_container_backend_runs_its_image_as_sagemaker_does(
    byo_project: Path,
) -> None:
    done = _cli(byo_project, "run", "--backend", "container", env={})
    assert done.returncode == 0, done.stdout + done.stderr
    (name,) = [r.name for r in records.scan_records(byo_project)]
    record_dir = records.jobs_root(byo_project) / name
    status = jobs.describe(byo_project, name)
    assert status.state is JobState.COMPLETED, status.failure_reason
    (model,) = list(record_dir.rglob("model.tar.gz"))
    _assert_byo_facts(facts_of(model))
