"""Each job kind's CreateTrainingJob request against the one the SageMaker SDK v2 sends for the
equivalent estimator, field by field; a 4-instance ``torch_distributed`` framework job's
against the official ``PyTorch`` estimator's (``pytorch_torch_distributed_4``); and a
TensorFlow framework job's, with and without MPI, against the official ``TensorFlow``
estimator's, which adds ``model_dir`` (``tensorflow``, ``tensorflow_mpi``).

The SDK's requests are golden files (``tests/golden/sdk/<case>.json``), captured from the SDK
itself against the moto server by the ``sdk`` tier (``sdk_kinds.py``, run in the SDK's side
venv); every tier compares sagelift's request for the same job with them. Every difference is
in ``ALLOWED`` with its reason, and each reason is in the README's table of differences.
Regenerate the golden files with ``SAGELIFT_UPDATE_GOLDEN=1 pytest -m sdk
tests/sagemaker/test_sdk_kinds.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from sagelift.aws import AwsSettings, client
from sagelift.backends.sagemaker.images import framework_image_uri
from sagelift.backends.sagemaker.request import build_create_training_job_request
from sagelift.backends.sagemaker.validation import validate_request
from sagelift.config import Layer, Resolved, flatten, resolve
from sagelift.spec import Channel, EntryPoint, JobKind, JobSpec, parse_job_spec
from sagelift.uploads import CODE_CHANNEL, ShippedCode, launcher_arguments

HERE = Path(__file__).parent
GOLDEN = HERE.parent / "golden" / "sdk"
README = HERE.parent.parent / "README.md"
KINDS: tuple[JobKind, ...] = ("framework", "byo", "script")

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/sagelift-test"
BUCKET = "sdk-kinds"
FRAMEWORK_IMAGE = (
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
)
BYO_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-byo:1"
DEPS_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagelift/wine:deps-0123456789abcdef"
IMAGES = {"framework": FRAMEWORK_IMAGE, "byo": BYO_IMAGE, "script": DEPS_IMAGE}
TRAIN = f"s3://{BUCKET}/data/train/"
DIGEST = "ab" * 32
CODE_PREFIX = f"s3://{BUCKET}/sagelift/code/{DIGEST}/"
HYPERPARAMETERS: dict[str, Any] = {
    "n_estimators": 100,
    "eta": 0.3,
    "objective": "binary:logistic",
    "layers": [8, 4],
    "early_stopping": True,
}

#: kind -> {path pattern of a field that differs: why}. Every difference must match a pattern,
#: and every pattern must match a difference (so the list cannot go stale).
COMMON: dict[str, str] = {
    "Tags": "sagelift tags every job (project, git commit, version); the SDK sends none unless "
    "given tags",
    "Environment.SAGELIFT_BACKEND": "the job can tell where it runs, as on every backend",
    "DebugHookConfig.*": "the SDK adds its Debugger hook defaults; sagelift sends no "
    "DebugHookConfig (no Debugger rules, no tensors written to S3)",
    "ProfilerConfig.*": "the SDK turns on the Debugger profiler's defaults; sagelift sends no "
    "ProfilerConfig",
    "InputDataConfig[*].CompressionType": "sagelift sends the default 'None' explicitly; the "
    "SDK leaves it out (same meaning)",
}
SHIPPED_CODE = {
    "HyperParameters.sagemaker_submit_directory": "sagelift's code is content-addressed, "
    "<bucket>/<prefix>/code/<sha256>/sourcedir.tar.gz, sent once; the SDK uploads it per job "
    "to <bucket>/<job>/source/sourcedir.tar.gz",
}
#: The multi-host case: the official PyTorch estimator, 4 instances under torchrun.
MULTIHOST = "pytorch_torch_distributed_4"
MULTIHOST_JOB = "torchdist-4"
#: The SDK's torch_distributed check takes full versions only ("2.1.0", not "2.1").
MULTIHOST_VERSION = "2.1.0"
MULTIHOST_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-gpu-py310"
MULTIHOST_INSTANCE = "ml.g5.12xlarge"
MULTIHOST_HYPERPARAMETERS: dict[str, Any] = {"epochs": 3, "lr": 0.01, "backend": "nccl"}
#: The TensorFlow cases: the official TensorFlow estimator on one CPU instance, plain and MPI.
TENSORFLOW = "tensorflow"
TENSORFLOW_MPI = "tensorflow_mpi"
TENSORFLOW_JOBS = {TENSORFLOW: "kinds-tensorflow", TENSORFLOW_MPI: "kinds-tensorflow-mpi"}
TENSORFLOW_DISTRIBUTIONS: dict[str, dict[str, Any] | None] = {
    TENSORFLOW: None,
    TENSORFLOW_MPI: {"mpi": {"enabled": True}},
}
TENSORFLOW_VERSION = "2.13.0"
TENSORFLOW_IMAGE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.13.0-cpu-py310"
)
CASES = (*KINDS, MULTIHOST, TENSORFLOW, TENSORFLOW_MPI)
METRICS_TIME_SERIES = {
    "AlgorithmSpecification.EnableSageMakerMetricsTimeSeries": "the PyTorch (1.3 and later) "
    "and TensorFlow (1.15 and later) estimators turn SageMaker Metrics time series on by "
    "themselves; sagelift leaves the API's default (off) on every kind, its metrics still read "
    "from the logs",
}
ALLOWED: dict[str, dict[str, str]] = {
    "framework": {**COMMON, **SHIPPED_CODE},
    "byo": dict(COMMON),
    "script": {**COMMON, **SHIPPED_CODE},
    MULTIHOST: {**COMMON, **SHIPPED_CODE, **METRICS_TIME_SERIES},
    TENSORFLOW: {**COMMON, **SHIPPED_CODE, **METRICS_TIME_SERIES},
    TENSORFLOW_MPI: {**COMMON, **SHIPPED_CODE, **METRICS_TIME_SERIES},
}
#: case -> the job kind whose README rows must explain its differences.
CASE_KINDS: dict[str, JobKind] = {
    "framework": "framework",
    "byo": "byo",
    "script": "script",
    MULTIHOST: "framework",
    TENSORFLOW: "framework",
    TENSORFLOW_MPI: "framework",
}


def _spec(kind: JobKind) -> JobSpec:
    entry = ("train",) if kind == "byo" else ("train.py",)
    return JobSpec(
        project_dir=Path("/p/wine"),
        source_dir=Path("/p/wine"),
        entry_point=EntryPoint(kind="command" if kind == "byo" else "script", argv=entry),
        kind=kind,
        hyperparameters=HYPERPARAMETERS,
        channels=(Channel(name="train", uri=TRAIN),),
        output_path=f"s3://{BUCKET}/output",
        base_job_name="kinds",
        instance_type="ml.m5.large",
    )


def _code(spec: JobSpec) -> ShippedCode:
    """The code as ``ship_code`` would report it for ``spec`` (launcher entry point and args)."""
    return ShippedCode(
        digest=DIGEST,
        prefix_uri=CODE_PREFIX,
        channel_name=CODE_CHANNEL,
        container_entrypoint=("python3", f"/opt/ml/input/data/{CODE_CHANNEL}/sagelift_runtime.pyz"),
        container_arguments=launcher_arguments(spec),
        bytes_uploaded=0,
    )


def _multihost_settings() -> Resolved:
    """The project settings of the job the PyTorch estimator stands for."""
    values = flatten(
        {
            "entry_point": "train.py",
            "image": {"framework": "pytorch", "framework_version": MULTIHOST_VERSION},
            "instance_type": MULTIHOST_INSTANCE,
            "instance_count": 4,
            "distribution": {"torch_distributed": {"enabled": True}},
            "hyperparameters": MULTIHOST_HYPERPARAMETERS,
            "channels": {"train": {"uri": TRAIN, "distribution": "ShardedByS3Key"}},
            "output_path": f"s3://{BUCKET}/output",
        },
        "sagelift.toml",
    )
    return resolve([Layer(source="sagelift.toml", values=values)])


def _tensorflow_settings(case: str) -> Resolved:
    """The project settings of the job the TensorFlow estimator of ``case`` stands for."""
    distribution = TENSORFLOW_DISTRIBUTIONS[case]
    values = flatten(
        {
            "entry_point": "train.py",
            "image": {"framework": "tensorflow", "framework_version": TENSORFLOW_VERSION},
            "instance_type": "ml.m5.large",
            "hyperparameters": HYPERPARAMETERS,
            "channels": {"train": {"uri": TRAIN}},
            "output_path": f"s3://{BUCKET}/output",
            **({"distribution": distribution} if distribution else {}),
        },
        "sagelift.toml",
    )
    return resolve([Layer(source="sagelift.toml", values=values)])


def _framework_job(case: str) -> tuple[JobSpec, str, str, str]:
    """The spec, job name, image and ``image.framework`` of a case set up as a project."""
    if case == MULTIHOST:
        settings, job_name = _multihost_settings(), MULTIHOST_JOB
    else:
        settings, job_name = _tensorflow_settings(case), TENSORFLOW_JOBS[case]
    spec = parse_job_spec(settings, Path("/p/ddp"))
    assert spec.kind == "framework"
    image = framework_image_uri(
        settings.get("image.framework"),
        settings.get("image.framework_version"),
        region=REGION,
        instance_type=spec.instance_type,
    )
    return spec, job_name, image, settings.get("image.framework")


def sagelift_request(case: str) -> dict[str, Any]:
    if case in (MULTIHOST, *TENSORFLOW_JOBS):
        spec, job_name, image, framework = _framework_job(case)
    else:
        spec, job_name, image = _spec(CASE_KINDS[case]), f"kinds-{case}", IMAGES[case]
        framework = "sklearn" if case == "framework" else None
    request = build_create_training_job_request(
        spec,
        job_name=job_name,
        role_arn=ROLE,
        image_uri=image,
        code=None if spec.kind == "byo" else _code(spec),
        channels=(),
        output_path=f"s3://{BUCKET}/output",
        checkpoint_s3_uri=None,
        region=REGION,
        tags={"sagelift:project": "wine", "sagelift:version": "0"},
        framework=framework,
    )
    validate_request(request)
    return request


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaf fields by path; channels keyed by name (``InputDataConfig[train].…``)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{path}.{key}" if path else key))
        return out
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and "ChannelName" in v for v in value)
    ):
        out = {}
        for channel in value:
            out.update(_flatten(channel, f"{path}[{channel['ChannelName']}]"))
        return out
    return {path: value}


def differences(sdk: dict[str, Any], ours: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Every leaf path whose value differs (or exists on one side only): (SDK's, sagelift's)."""
    theirs, mine = _flatten(sdk), _flatten(ours)
    missing = object()
    return {
        path: (theirs.get(path, missing), mine.get(path, missing))
        for path in sorted(set(theirs) | set(mine))
        if theirs.get(path, missing) != mine.get(path, missing)
    }


def _allowed_path(pattern: str, path: str) -> bool:
    """``*`` stands for any text; a pattern also covers the fields under it."""
    regex = re.escape(pattern).replace(r"\*", ".*")
    return re.fullmatch(regex, path) is not None or path.startswith(pattern + ".")


def _golden(kind: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{kind}.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("case", CASES)
def test_the_request_differs_from_the_sdks_only_as_listed(case: str) -> None:
    found = differences(_golden(case), sagelift_request(case))
    allowed = ALLOWED[case]
    unexplained = {p: v for p, v in found.items() if not any(_allowed_path(a, p) for a in allowed)}
    assert unexplained == {}, f"{case}: differences from the SDK v2 request with no reason"
    stale = [a for a in allowed if not any(_allowed_path(a, p) for p in found)]
    assert stale == [], f"{case}: listed differences that no longer differ"


def test_a_torch_distributed_job_asks_for_what_the_pytorch_estimator_asks_for() -> None:
    sdk, ours = _golden(MULTIHOST), sagelift_request(MULTIHOST)
    assert ours["ResourceConfig"] == sdk["ResourceConfig"]
    assert ours["ResourceConfig"]["InstanceCount"] == 4
    # Every hyperparameter as the SDK encodes it, but where the code lies.
    sent = {k: v for k, v in sdk["HyperParameters"].items() if k != "sagemaker_submit_directory"}
    assert {k: ours["HyperParameters"].get(k) for k in sent} == sent
    assert ours["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"
    assert ours["HyperParameters"]["sagemaker_instance_type"] == json.dumps(MULTIHOST_INSTANCE)
    assert "ContainerEntrypoint" not in ours["AlgorithmSpecification"]
    assert ours["AlgorithmSpecification"]["TrainingImage"] == MULTIHOST_IMAGE
    source = ours["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert source["S3DataDistributionType"] == "ShardedByS3Key"


def test_a_tensorflow_job_sends_the_model_dir_the_tensorflow_estimator_sends() -> None:
    """``<output_path>/<job>/model`` in S3, ``/opt/ml/model`` under MPI; no other framework
    estimator sends one."""
    for case, expected in (
        (TENSORFLOW, f"s3://{BUCKET}/output/{TENSORFLOW_JOBS[TENSORFLOW]}/model"),
        (TENSORFLOW_MPI, "/opt/ml/model"),
    ):
        sent = _golden(case)["HyperParameters"]["model_dir"]
        assert sent == json.dumps(expected)
        assert sagelift_request(case)["HyperParameters"]["model_dir"] == sent
    for case in ("framework", MULTIHOST):
        assert "model_dir" not in _golden(case)["HyperParameters"]
        assert "model_dir" not in sagelift_request(case)["HyperParameters"]


def test_what_the_kinds_send_as_the_sdk_does() -> None:
    framework, byo, script = (sagelift_request(k) for k in KINDS)
    # Framework and byo: the image's own entry point; script: sagelift's launcher.
    assert "ContainerEntrypoint" not in framework["AlgorithmSpecification"]
    assert "ContainerEntrypoint" not in byo["AlgorithmSpecification"]
    assert script["AlgorithmSpecification"]["ContainerEntrypoint"][-1].endswith(
        "sagelift-code/sagelift_runtime.pyz"
    )
    # byo hyperparameters plain strings, the others JSON-encoded.
    assert byo["HyperParameters"]["objective"] == "binary:logistic"
    assert framework["HyperParameters"]["objective"] == '"binary:logistic"'
    submit = json.loads(framework["HyperParameters"]["sagemaker_submit_directory"])
    assert submit == CODE_PREFIX + "sourcedir.tar.gz"


def test_the_readme_lists_every_difference_with_its_reason() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- sdk-differences -->")
    table = text[start : text.index("<!-- /sdk-differences -->", start)]
    for case, allowed in ALLOWED.items():
        kind = CASE_KINDS[case]
        for pattern in allowed:
            field = pattern.split(".")[0].split("[")[0]
            rows = [line for line in table.splitlines() if f"`{field}" in line]
            assert rows, f"README: no row for {pattern} ({kind})"
            assert any(kind in row or "all" in row for row in rows), (pattern, kind)


@pytest.mark.sdk
@pytest.mark.slow
def test_the_golden_requests_are_what_the_sdk_sends(
    tmp_path: Path, moto_endpoint: str, aws_settings: AwsSettings
) -> None:
    from tests.formats.sdk import run_sdk

    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    (tmp_path / "train.py").write_text("print('train')\n", encoding="utf-8")
    config = {
        "endpoint": moto_endpoint,
        "region": REGION,
        "role": ROLE,
        "bucket": BUCKET,
        "source_dir": str(tmp_path),
        "images": IMAGES,
        "train": TRAIN,
        "code_prefix": CODE_PREFIX,
        "entrypoint": list(_code(_spec("script")).container_entrypoint),
        "arguments": list(_code(_spec("script")).container_arguments),
        "hyperparameters": HYPERPARAMETERS,
        "multihost": {
            "job_name": MULTIHOST_JOB,
            "instance_type": MULTIHOST_INSTANCE,
            "framework_version": MULTIHOST_VERSION,
            "py_version": "py310",
            "image": MULTIHOST_IMAGE,
            "hyperparameters": MULTIHOST_HYPERPARAMETERS,
        },
        "tensorflow": {
            "framework_version": TENSORFLOW_VERSION,
            "py_version": "py310",
            "image": TENSORFLOW_IMAGE,
            "jobs": {job: TENSORFLOW_DISTRIBUTIONS[case] for case, job in TENSORFLOW_JOBS.items()},
        },
    }
    done = run_sdk(
        (HERE / "sdk_kinds.py").read_text(encoding="utf-8"),
        json.dumps(config),
        env={"AWS_ENDPOINT_URL": moto_endpoint},
    )
    captured = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    # The SDK really uploaded its sourcedir.tar.gz to the moto server.
    keys = [o["Key"] for o in client("s3", aws_settings).list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "kinds-framework/source/sourcedir.tar.gz" in keys
    captured[MULTIHOST] = captured.pop(MULTIHOST_JOB)
    for case, job in TENSORFLOW_JOBS.items():
        captured[case] = captured.pop(job)
    for case in CASES:
        actual = json.dumps(captured[case], indent=2, sort_keys=True) + "\n"
        golden = GOLDEN / f"{case}.json"
        if os.environ.get("SAGELIFT_UPDATE_GOLDEN") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(actual, encoding="utf-8")
        assert actual == golden.read_text(encoding="utf-8"), f"{case}: the SDK's request changed"
