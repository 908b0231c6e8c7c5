"""The CreateTrainingJob request: golden files for fixture specs, and its validation.

Regenerate the golden files after an intended change with
``SAGELIFT_UPDATE_GOLDEN=1 pytest tests/sagemaker/test_request.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sagelift.backends.sagemaker.request import build_create_training_job_request, default_tags
from sagelift.backends.sagemaker.validation import validate_request
from sagelift.contract.distribution import Distribution
from sagelift.errors import SpecError
from sagelift.spec import Channel, EntryPoint, JobSpec, MetricDefinition
from sagelift.uploads import ShippedChannel, ShippedCode

GOLDEN = Path(__file__).parent.parent / "golden" / "requests"
ROLE = "arn:aws:iam::123456789012:role/sagelift-test"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROOT = "s3://sagemaker-us-east-1-123456789012/sagelift"
CODE = ShippedCode(
    digest="ab" * 32,
    prefix_uri=f"{ROOT}/code/{'ab' * 32}/",
    channel_name="sagelift-code",
    container_entrypoint=("python3", "/opt/ml/input/data/sagelift-code/sagelift_runtime.pyz"),
    container_arguments=("--program", "train.py"),
    bytes_uploaded=0,
)
# Fixed, so the golden files do not change with sagelift's version.
TAGS = {
    "sagelift:git-commit": "0123abcd-dirty",
    "sagelift:project": "wine",
    "sagelift:version": "0",
}


def test_default_tags_carry_project_commit_and_version() -> None:
    tags = default_tags(project="wine", git_commit="0123abcd", dirty=True)
    assert tags["sagelift:git-commit"] == "0123abcd-dirty"
    assert tags["sagelift:project"] == "wine"
    assert "sagelift:version" in tags


def _spec(**changes: Any) -> JobSpec:
    base = JobSpec(
        project_dir=Path("/p/wine"),
        source_dir=Path("/p/wine"),
        entry_point=EntryPoint(kind="script", argv=("train.py",)),
        output_path="/p/wine/.sagelift/jobs",
        base_job_name="wine",
        instance_type="ml.m5.xlarge",
    )
    return replace(base, **changes)


def _request(spec: JobSpec, **kwargs: Any) -> dict[str, Any]:
    shipped = [
        ShippedChannel(
            name=c.name, uri=f"{ROOT}/data/{c.name}/", bytes_uploaded=0, files_uploaded=0
        )
        for c in spec.channels
        if not c.uri.startswith("s3://")
    ]
    options: dict[str, Any] = {
        "job_name": "wine-20260101-000000-abcd",
        "role_arn": ROLE,
        "image_uri": IMAGE,
        "code": CODE,
        "channels": shipped,
        "output_path": f"{ROOT}/output",
        "checkpoint_s3_uri": None,
        "region": "us-east-1",
        "tags": TAGS,
    }
    options.update(kwargs)
    return build_create_training_job_request(spec, **options)


SPECS = {
    "minimal": (_spec(), {}),
    "full": (
        _spec(
            hyperparameters={"epochs": 3, "lr": 0.1, "model": {"depth": 4}, "name": "w"},
            channels=(
                Channel(name="train", uri="/p/wine/data/train"),
                Channel(name="test", uri="s3://datasets/wine/test/", content_type="text/csv"),
            ),
            environment={"MODE": "fast"},
            metric_definitions=(MetricDefinition(name="loss", regex="loss=([0-9.]+)"),),
            instance_count=2,
            volume_size=50,
            max_runtime=7200,
        ),
        {
            "checkpoint_s3_uri": f"{ROOT}/checkpoints/wine",
            "enable_spot": True,
            "max_wait": 10800,
            "retry_attempts": 2,
        },
    ),
    "byo": (
        _spec(
            kind="byo",
            entry_point=EntryPoint(kind="command", argv=("train",)),
            hyperparameters={"objective": "binary:logistic", "num_round": 10, "eta": 0.3},
            channels=(Channel(name="train", uri="s3://datasets/higgs/train/"),),
        ),
        {"code": None, "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-xgb:1"},
    ),
    "torch_distributed": (
        _spec(
            instance_type="ml.g5.12xlarge",
            instance_count=4,
            distribution=Distribution(kind="torch_distributed"),
            channels=(
                Channel(name="train", uri="/p/wine/data/train", distribution="ShardedByS3Key"),
            ),
        ),
        {},
    ),
    "framework": (
        _spec(
            kind="framework",
            hyperparameters={"n_estimators": 100, "criterion": "gini"},
            channels=(Channel(name="train", uri="s3://datasets/wine/train/"),),
        ),
        {},
    ),
    "module": (
        _spec(
            entry_point=EntryPoint(kind="module", argv=("wine.train",)),
            instance_type="ml.g5.xlarge",
        ),
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_request_matches_golden_file(name: str) -> None:
    spec, kwargs = SPECS[name]
    request = _request(spec, **kwargs)
    validate_request(request)
    actual = (json.dumps(request, indent=2, sort_keys=True) + "\n").encode()
    golden = GOLDEN / f"{name}.json"
    if os.environ.get("SAGELIFT_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(actual)
    assert golden.exists(), f"{golden} is missing; run with SAGELIFT_UPDATE_GOLDEN=1"
    assert actual == golden.read_bytes(), f"{golden.name} differs; regenerate and review"


def test_hyperparameters_use_the_local_encoding_and_point_at_the_code() -> None:
    spec, kwargs = SPECS["full"]
    hps = _request(spec, **kwargs)["HyperParameters"]
    assert hps["epochs"] == "3"
    assert hps["model"] == '{"depth": 4}'
    assert hps["name"] == '"w"'
    assert hps["sagemaker_submit_directory"] == json.dumps(CODE.prefix_uri + "sourcedir.tar.gz")
    assert hps["sagemaker_program"] == '"train.py"'


def test_a_byo_request_runs_the_image_as_sagemaker_does_with_plain_hyperparameters() -> None:
    spec, kwargs = SPECS["byo"]
    request = _request(spec, **kwargs)
    algorithm = request["AlgorithmSpecification"]
    assert "ContainerEntrypoint" not in algorithm
    assert "ContainerArguments" not in algorithm
    assert request["HyperParameters"] == {
        "eta": "0.3",
        "num_round": "10",
        "objective": "binary:logistic",
    }
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train"]


def test_a_script_mode_request_needs_its_code() -> None:
    with pytest.raises(ValueError, match="shipped code"):
        _request(_spec(), code=None)


def test_unknown_instance_type_suggests_close_ones() -> None:
    with pytest.raises(SpecError) as caught:
        validate_request(_request(_spec(instance_type="ml.m5.xlarg")))
    assert caught.value.field == "instance_type"
    assert caught.value.exit_code == 2
    assert "ml.m5.xlarge" in (caught.value.hint or "")


def test_hyperparameter_value_beyond_the_api_limit_names_the_key() -> None:
    with pytest.raises(SpecError) as caught:
        validate_request(_request(_spec(hyperparameters={"notes": "x" * 3000})))
    assert caught.value.field == "hyperparameters"
    assert "HyperParameters.notes" in caught.value.message
    assert "2500" in caught.value.message


def test_too_many_hyperparameters_is_refused() -> None:
    with pytest.raises(SpecError, match="at most 100"):
        validate_request(_request(_spec(hyperparameters={f"k{i}": i for i in range(100)})))


def test_channel_name_pattern_is_checked() -> None:
    request = _request(_spec())
    request["InputDataConfig"][0]["ChannelName"] = "bad name"
    with pytest.raises(SpecError, match="ChannelName"):
        validate_request(request)


def test_spot_needs_max_wait() -> None:
    with pytest.raises(ValueError, match="max_wait"):
        _request(_spec(), enable_spot=True)


def test_role_arn_pattern_is_checked() -> None:
    with pytest.raises(SpecError) as caught:
        validate_request(_request(_spec(), role_arn="arn:aws:iam::12:role/x"))
    assert caught.value.field == "aws.role"


def test_a_framework_request_is_what_the_sdk_v2_framework_estimators_send() -> None:
    # SKLearn(entry_point="train.py", framework_version="1.2-1", hyperparameters={...}).fit():
    # the image's own entry point, the tarball's S3 URI in sagemaker_submit_directory, the
    # SDK's reserved keys, every value json.dumps-encoded, no code channel.
    spec, kwargs = SPECS["framework"]
    request = _request(spec, **kwargs)
    algorithm = request["AlgorithmSpecification"]
    assert "ContainerEntrypoint" not in algorithm
    assert "ContainerArguments" not in algorithm
    assert algorithm["TrainingImage"] == IMAGE
    assert request["HyperParameters"] == {
        "criterion": '"gini"',
        "n_estimators": "100",
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": json.dumps(request["TrainingJobName"]),
        "sagemaker_program": '"train.py"',
        "sagemaker_region": '"us-east-1"',
        "sagemaker_submit_directory": json.dumps(CODE.prefix_uri + "sourcedir.tar.gz"),
    }
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train"]


def test_a_tensorflow_request_sends_model_dir_as_the_tensorflow_estimator_does() -> None:
    # TensorFlow(...).fit(): model_dir = s3_path_join(output_path, job_name, "model"), and
    # /opt/ml/model with MPI enabled (sagemaker/tensorflow/estimator.py, _default_s3_path).
    spec, kwargs = SPECS["framework"]
    hps = _request(spec, framework="tensorflow", output_path=f"{ROOT}/output/")["HyperParameters"]
    assert hps["model_dir"] == json.dumps(f"{ROOT}/output/wine-20260101-000000-abcd/model")
    mpi = replace(spec, distribution=Distribution(kind="mpi"))
    hps = _request(mpi, framework="tensorflow", **kwargs)["HyperParameters"]
    assert hps["model_dir"] == '"/opt/ml/model"'
    assert hps["sagemaker_mpi_enabled"] == "true"


def test_no_other_framework_and_no_script_mode_job_gets_a_model_dir() -> None:
    spec, _ = SPECS["framework"]
    for framework in ("sklearn", "pytorch", "huggingface", None):
        assert "model_dir" not in _request(spec, framework=framework)["HyperParameters"]
    script = replace(spec, kind="script")
    assert "model_dir" not in _request(script, framework="tensorflow")["HyperParameters"]


def test_a_model_dir_the_user_sets_wins_over_the_tensorflow_default() -> None:
    # The SDK's model_dir= argument wins over its default; in sagelift that is the user's
    # model_dir hyperparameter.
    spec, _ = SPECS["framework"]
    mine = replace(spec, hyperparameters={"model_dir": "s3://mine/models"})
    for distribution in (None, Distribution(kind="mpi")):
        job = replace(mine, distribution=distribution)
        hps = _request(job, framework="tensorflow")["HyperParameters"]
        assert hps["model_dir"] == '"s3://mine/models"'
