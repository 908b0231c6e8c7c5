"""The CreateTrainingJob request of input-mode channels, against a golden file.

Regenerate with ``SAGELIFT_UPDATE_GOLDEN=1 pytest tests/inputs/test_request_pipe.py``.
"""

from __future__ import annotations

import json
import os

from sagelift.backends.sagemaker.validation import validate_request
from sagelift.spec import Channel
from tests.sagemaker.test_request import GOLDEN, _request, _spec

SPEC = _spec(
    input_mode="Pipe",
    channels=(
        Channel(
            name="train",
            uri="/p/wine/data/train",
            input_mode="Pipe",
            compression="Gzip",
            record_wrapper="RecordIO",
            content_type="application/x-recordio",
        ),
        Channel(
            name="labels",
            uri="s3://datasets/wine/aug.jsonl",
            input_mode="Pipe",
            s3_data_type="AugmentedManifestFile",
            attribute_names=("source-ref", "label"),
        ),
        Channel(name="test", uri="s3://datasets/wine/test/", input_mode="FastFile"),
        Channel(name="extra", uri="s3://datasets/wine/x.manifest", s3_data_type="ManifestFile"),
    ),
)


def test_pipe_request_matches_golden_file() -> None:
    request = _request(SPEC)
    validate_request(request)
    actual = (json.dumps(request, indent=2, sort_keys=True) + "\n").encode()
    golden = GOLDEN / "pipe.json"
    if os.environ.get("SAGELIFT_UPDATE_GOLDEN") == "1":
        golden.write_bytes(actual)
    assert actual == golden.read_bytes(), f"{golden.name} differs; regenerate and review"


def test_pipe_channels_and_the_code_channel_carry_their_modes() -> None:
    request = _request(SPEC)
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    channels = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    train = channels["train"]
    assert "InputMode" not in train  # the job's mode
    assert (train["CompressionType"], train["RecordWrapperType"]) == ("Gzip", "RecordIO")
    assert channels["test"]["InputMode"] == "FastFile"
    assert channels["extra"]["InputMode"] == "File"
    source = channels["labels"]["DataSource"]["S3DataSource"]
    assert source["S3DataType"] == "AugmentedManifestFile"
    assert source["AttributeNames"] == ["source-ref", "label"]
    # sagelift's own code channel is always downloaded as files.
    assert channels["sagelift-code"]["InputMode"] == "File"
