"""Run by the SageMaker SDK v2's interpreter against a moto server: the CreateTrainingJob
request the SDK sends for the estimator equivalent to each sagelift job kind, captured by a
botocore before-call hook as it leaves the process (no job is created), printed as one JSON
object {kind: request}.

The one argument is a JSON object: endpoint, region, role, bucket, source_dir (holding
train.py), images {kind: URI}, train (the channel's S3 URI), code_prefix, entrypoint and
arguments (sagelift's launcher for the dependencies-only kind), hyperparameters, and
multihost: the official PyTorch estimator for a 4-instance ``torch_distributed`` job
({job_name, instance_type, framework_version, py_version, image, hyperparameters}, captured
under its job name); and tensorflow: the official TensorFlow estimator, once per job of
{framework_version, py_version, image, jobs {job_name: distribution or null}}, each captured
under its job name. The
SDK's own S3 calls (the sourcedir.tar.gz it uploads) reach the same moto server through
AWS_ENDPOINT_URL, set by the caller.
"""

import contextlib
import json
import sys

import boto3
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.pytorch.estimator import PyTorch
from sagemaker.session import Session
from sagemaker.sklearn.estimator import SKLearn
from sagemaker.tensorflow.estimator import TensorFlow

config = json.loads(sys.argv[1])
bucket = config["bucket"]
captured = {}


class Captured(Exception):
    pass


def capture(params, model, **kwargs):
    if model.name == "CreateTrainingJob":
        request = json.loads(params["body"])
        captured[request["TrainingJobName"]] = request
        raise Captured()


boto = boto3.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name=config["region"]
)
client = boto.client("sagemaker", endpoint_url=config["endpoint"])
client.meta.events.register("before-call.sagemaker.CreateTrainingJob", capture)
session = Session(boto_session=boto, sagemaker_client=client, default_bucket=bucket)
common = {
    "role": config["role"],
    "instance_count": 1,
    "instance_type": "ml.m5.large",
    "volume_size": 30,
    "max_run": 86400,
    "output_path": f"s3://{bucket}/output",
    "hyperparameters": config["hyperparameters"],
    "sagemaker_session": session,
}
estimators = {
    # framework: the official scikit-learn estimator, script mode in the official image.
    "framework": SKLearn(
        entry_point="train.py",
        source_dir=config["source_dir"],
        framework_version="1.2-1",
        **common,
    ),
    # byo: the generic estimator on an image that holds its code.
    "byo": Estimator(image_uri=config["images"]["byo"], **common),
    # dependencies-only: the generic estimator in script mode on the dependencies image, with
    # sagelift's launcher as the entry point and its code channel as one more input.
    "script": Estimator(
        image_uri=config["images"]["script"],
        entry_point="train.py",
        source_dir=config["source_dir"],
        container_entry_point=config["entrypoint"],
        container_arguments=config["arguments"],
        **common,
    ),
}
assert estimators["framework"].training_image_uri() == config["images"]["framework"]
for kind, estimator in estimators.items():
    inputs = {"train": TrainingInput(config["train"])}
    if kind == "script":
        inputs["sagelift-code"] = TrainingInput(config["code_prefix"])
    with contextlib.suppress(Captured):
        estimator.fit(inputs, job_name=f"kinds-{kind}", wait=False, logs=False)
# multi-host: the official PyTorch estimator, 4 instances under torchrun, a sharded channel.
multihost = config["multihost"]
pytorch = PyTorch(
    entry_point="train.py",
    source_dir=config["source_dir"],
    framework_version=multihost["framework_version"],
    py_version=multihost["py_version"],
    role=config["role"],
    instance_count=4,
    instance_type=multihost["instance_type"],
    volume_size=30,
    max_run=86400,
    output_path=f"s3://{bucket}/output",
    distribution={"torch_distributed": {"enabled": True}},
    hyperparameters=multihost["hyperparameters"],
    sagemaker_session=session,
)
assert pytorch.training_image_uri() == multihost["image"]
with contextlib.suppress(Captured):
    pytorch.fit(
        {"train": TrainingInput(config["train"], distribution="ShardedByS3Key")},
        job_name=multihost["job_name"],
        wait=False,
        logs=False,
    )
# tensorflow: the official TensorFlow estimator (it adds model_dir), with and without MPI.
tensorflow = config["tensorflow"]
for job_name, distribution in tensorflow["jobs"].items():
    estimator = TensorFlow(
        entry_point="train.py",
        source_dir=config["source_dir"],
        framework_version=tensorflow["framework_version"],
        py_version=tensorflow["py_version"],
        distribution=distribution,
        **common,
    )
    assert estimator.training_image_uri() == tensorflow["image"]
    with contextlib.suppress(Captured):
        estimator.fit(
            {"train": TrainingInput(config["train"])}, job_name=job_name, wait=False, logs=False
        )
requests = {kind: captured[f"kinds-{kind}"] for kind in estimators}
requests[multihost["job_name"]] = captured[multihost["job_name"]]
for job_name in tensorflow["jobs"]:
    requests[job_name] = captured[job_name]
print(json.dumps(requests, sort_keys=True))
