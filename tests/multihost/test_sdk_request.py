"""The request for a 4-instance torch_distributed job against what SDK v2 sends for the same
PyTorch estimator (a golden file written from the SDK's source; see its ``_source``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sagemaker.test_request import SPECS, _request

SDK = (
    Path(__file__).parent.parent / "golden" / "requests" / "sdk_v2_pytorch_torch_distributed_4.json"
)


def test_torch_distributed_request_carries_what_sdk_v2_sends() -> None:
    expected = json.loads(SDK.read_text(encoding="utf-8"))
    spec, kwargs = SPECS["torch_distributed"]
    request = _request(spec, **kwargs)
    hyperparameters = request["HyperParameters"]
    for key, value in expected["HyperParameters"].items():
        assert hyperparameters[key] == value, key
    distribution_keys = {k for k in hyperparameters if "distributed" in k or "mpi" in k}
    assert distribution_keys == {"sagemaker_torch_distributed_enabled"}
    resources = request["ResourceConfig"]
    assert {k: resources[k] for k in expected["ResourceConfig"]} == expected["ResourceConfig"]
    (train,) = [c for c in request["InputDataConfig"] if c["ChannelName"] == "train"]
    source = train["DataSource"]["S3DataSource"]
    assert source["S3DataDistributionType"] == expected["TrainS3DataDistributionType"]
