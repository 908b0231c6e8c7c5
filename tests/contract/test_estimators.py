"""What an SDK v2 framework estimator adds of its own: TensorFlow's ``model_dir``."""

from __future__ import annotations

from sagelift.contract.config_files import render_hyperparameters
from sagelift.contract.distribution import Distribution
from sagelift.contract.estimators import estimator_hyperparameters, tensorflow_model_dir


def test_the_tensorflow_model_dir_joins_as_the_sdk_joins_s3_paths() -> None:
    for output in ("s3://b/output", "s3://b/output/", "s3://b//output//"):
        found = tensorflow_model_dir(output_path=output, job_name="job-1", distribution=None)
        assert found == "s3://b/output/job-1/model"
    found = tensorflow_model_dir(output_path="s3://b", job_name="job-1", distribution=None)
    assert found == "s3://b/job-1/model"


def test_the_tensorflow_model_dir_is_the_containers_with_mpi_or_on_this_machine() -> None:
    mpi = Distribution(kind="mpi", processes_per_host=2)
    assert tensorflow_model_dir(output_path="s3://b/o", job_name="j", distribution=mpi) == (
        "/opt/ml/model"
    )
    assert tensorflow_model_dir(output_path=None, job_name="j", distribution=None) == (
        "/opt/ml/model"
    )
    torchrun = Distribution(kind="torch_distributed")
    assert tensorflow_model_dir(output_path="s3://b/o", job_name="j", distribution=torchrun) == (
        "s3://b/o/j/model"
    )


def test_only_the_tensorflow_estimator_adds_hyperparameters() -> None:
    options = {"output_path": "s3://b/o", "job_name": "j", "distribution": None}
    assert estimator_hyperparameters("tensorflow", **options) == {"model_dir": "s3://b/o/j/model"}
    for framework in ("sklearn", "pytorch", "huggingface", None):
        assert estimator_hyperparameters(framework, **options) == {}


def test_user_values_win_over_estimator_defaults_and_reserved_keys_over_both() -> None:
    rendered = render_hyperparameters(
        {"model_dir": "/mine", "sagemaker_region": "nowhere"},
        program="train.py",
        submit_directory=None,
        job_name="j",
        region="us-east-1",
        defaults={"model_dir": "/opt/ml/model", "sagemaker_region": "also-nowhere", "x": 1},
    )
    assert rendered["model_dir"] == '"/mine"'
    assert rendered["sagemaker_region"] == '"us-east-1"'
    assert rendered["x"] == "1"
