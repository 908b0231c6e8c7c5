"""Run by the SageMaker SDK v2's interpreter: the CreateTrainingJob request the SDK sends for
``Estimator(image_uri=image_uris.retrieve("xgboost", region, "1.7-1"))``, captured before it
leaves the process (a botocore before-call hook), printed as JSON."""

import contextlib
import json
import sys

import boto3
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.session import Session

from sagemaker import image_uris

region, role, output, train, validation = sys.argv[1:6]


class Captured(Exception):
    pass


def capture(params, model, **kwargs):
    if model.name == "CreateTrainingJob":
        print(json.dumps(json.loads(params["body"]), sort_keys=True))
        raise Captured()


boto = boto3.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
)
client = boto.client("sagemaker", endpoint_url="http://127.0.0.1:9")
client.meta.events.register("before-call.sagemaker.CreateTrainingJob", capture)
session = Session(boto_session=boto, sagemaker_client=client, default_bucket="unused-bucket")
estimator = Estimator(
    image_uri=image_uris.retrieve("xgboost", region, "1.7-1"),
    role=role,
    instance_count=1,
    instance_type="ml.m5.xlarge",
    volume_size=30,
    max_run=86400,
    output_path=output,
    hyperparameters={"num_round": 20, "eta": 0.3, "objective": "binary:logistic"},
    sagemaker_session=session,
)
with contextlib.suppress(Captured):
    estimator.fit(
        {
            "train": TrainingInput(train, content_type="text/csv"),
            "validation": TrainingInput(validation, content_type="text/csv"),
        },
        job_name="xgb-golden",
        wait=False,
        logs=False,
    )
