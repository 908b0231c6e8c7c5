"""Input modes end to end on the local backend: Pipe (from a directory and from S3, with Gzip
and RecordIO), FastFile, manifests; what inputdataconfig.json, SM_INPUT_DATA_CONFIG and
TRAINING_JOB_ARN say; and what the job record keeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.base import JobState
from sagelift.errors import SpecError
from sagelift.settings import Settings
from sagelift.storage import Storage, open_storage
from tests.conftest import MakeProject

from .conftest import FILES, IN_KEY_ORDER, gz, read_inputs, write_files

BUCKET = "sagelift-inputs"
PLAIN = "".join(IN_KEY_ORDER)


def _run(project: Path, environ: dict[str, str], aws: AwsSettings | None = None) -> Any:
    spec = jobs.load_spec(project, environ=environ)
    result = jobs.run(spec, settings=Settings(aws=aws or AwsSettings()))
    assert result.status.state is JobState.COMPLETED, (
        result.status.failure_reason,
        "".join(jobs.logs(project, result.handle.name)),
    )
    return result


def _pipe_project(make_project: MakeProject, channel: dict[str, Any], **config: Any) -> Path:
    return make_project("reads_inputs", channels={"train": channel}, **config)


@pytest.mark.parametrize(
    ("settings", "gzipped", "expected"),
    [
        ({}, False, PLAIN),
        ({"compression": "Gzip"}, True, PLAIN),
        ({"record_wrapper": "RecordIO"}, False, IN_KEY_ORDER),
        ({"compression": "Gzip", "record_wrapper": "RecordIO"}, True, IN_KEY_ORDER),
    ],
    ids=["plain", "gzip", "recordio", "gzip-recordio"],
)
def test_a_pipe_mode_script_reads_two_epochs_from_a_local_channel(
    settings: dict[str, Any],
    gzipped: bool,
    expected: Any,
    make_project: MakeProject,
    clean_environ: dict[str, str],
) -> None:
    project = _pipe_project(make_project, {"path": "data", "input_mode": "Pipe", **settings})
    write_files(project / "data", FILES, gzipped=gzipped)
    result = _run(project, clean_environ)
    seen = read_inputs(result.model_artifacts)
    train = seen["channels"]["train"]
    assert train["epochs"] == [expected, expected]
    assert train["dir"] is False  # Pipe mode: FIFOs only, no channel directory
    assert train["fifos"][:2] == ["train_0", "train_1"]
    wrapper = settings.get("record_wrapper", "None")
    assert seen["input_data_config"] == {
        "train": {
            "TrainingInputMode": "Pipe",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": wrapper,
        }
    }
    name = result.handle.name
    assert seen["job_name"] == name
    assert seen["job_arn"] == f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name}"
    layout = result.handle.record_dir / "opt-ml" / "input" / "config"
    assert json.loads((layout / "inputdataconfig.json").read_text()) == seen["input_data_config"]
    (channel,) = records.read_record(result.handle.record_dir).spec.channels  # type: ignore[union-attr]
    assert (channel.input_mode, channel.compression, channel.record_wrapper) == (
        "Pipe",
        settings.get("compression", "None"),
        wrapper,
    )


def test_the_job_wide_input_mode_applies_to_channels_that_name_none(
    make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = make_project(
        "reads_inputs",
        input_mode="Pipe",
        channels={"train": "data", "extra": {"path": "more", "input_mode": "File"}},
    )
    write_files(project / "data", FILES)
    write_files(project / "more", {"x.txt": "x\n"})
    seen = read_inputs(_run(project, clean_environ).model_artifacts)
    assert seen["channels"]["train"]["epochs"] == [PLAIN, PLAIN]
    assert seen["channels"]["extra"] == {"files": {"x.txt": "x\n"}}
    assert seen["input_data_config"]["extra"]["TrainingInputMode"] == "File"


def test_fastfile_is_file_mode_on_this_machine(
    make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = _pipe_project(
        make_project, {"path": "data", "input_mode": "FastFile", "content_type": "text/plain"}
    )
    write_files(project / "data", FILES)
    seen = read_inputs(_run(project, clean_environ).model_artifacts)
    assert seen["channels"]["train"] == {"files": FILES}
    assert seen["input_data_config"]["train"] == {
        "ContentType": "text/plain",
        "TrainingInputMode": "FastFile",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }


# --- s3:// channels on the moto server --------------------------------------------------


@pytest.fixture
def s3(aws_settings: AwsSettings) -> Storage:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return open_storage("s3", aws=aws_settings)


def _put_files(s3: Storage, prefix: str, *, gzipped: bool = False) -> None:
    for rel, text in FILES.items():
        s3.put_bytes(f"{prefix}/{rel}", gz(text) if gzipped else text.encode())


@pytest.mark.parametrize("variant", ["plain", "gzip-recordio"])
def test_a_pipe_mode_script_reads_two_epochs_from_s3(
    variant: str,
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
) -> None:
    wrapped = variant == "gzip-recordio"
    prefix = f"s3://{BUCKET}/train"
    _put_files(s3, prefix, gzipped=wrapped)
    s3.put_bytes(f"s3://{BUCKET}/train2/not-mine.txt", b"no\n")
    channel: dict[str, Any] = {"path": prefix, "input_mode": "Pipe"}
    if wrapped:
        channel.update(compression="Gzip", record_wrapper="RecordIO")
    project = _pipe_project(make_project, channel)
    seen = read_inputs(_run(project, clean_environ, aws_settings).model_artifacts)
    expected: Any = IN_KEY_ORDER if wrapped else PLAIN
    assert seen["channels"]["train"]["epochs"] == [expected, expected]


def test_a_manifest_channel_shows_the_listed_objects_as_files(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
) -> None:
    _put_files(s3, f"s3://{BUCKET}/pool")
    manifest = [{"prefix": f"s3://{BUCKET}/pool/"}, "sub/c.txt", "a.txt"]
    s3.put_bytes(f"s3://{BUCKET}/train.manifest", json.dumps(manifest).encode())
    project = _pipe_project(
        make_project, {"path": f"s3://{BUCKET}/train.manifest", "s3_data_type": "ManifestFile"}
    )
    seen = read_inputs(_run(project, clean_environ, aws_settings).model_artifacts)
    assert seen["channels"]["train"] == {"files": {"sub/c.txt": "gamma\n", "a.txt": "alpha\n"}}


def test_a_pipe_manifest_streams_in_manifest_order(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
) -> None:
    _put_files(s3, f"s3://{BUCKET}/pool")
    manifest = [{"prefix": f"s3://{BUCKET}/pool/"}, "sub/c.txt", "a.txt"]
    s3.put_bytes(f"s3://{BUCKET}/train.manifest", json.dumps(manifest).encode())
    project = _pipe_project(
        make_project,
        {
            "path": f"s3://{BUCKET}/train.manifest",
            "s3_data_type": "ManifestFile",
            "input_mode": "Pipe",
        },
    )
    seen = read_inputs(_run(project, clean_environ, aws_settings).model_artifacts)
    assert seen["channels"]["train"]["epochs"] == ["gamma\nalpha\n"] * 2


def test_an_augmented_manifest_streams_each_line_s_attributes(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
) -> None:
    _put_files(s3, f"s3://{BUCKET}/pool")
    lines = [
        {"source-ref": f"s3://{BUCKET}/pool/a.txt", "label": 1, "other": "x"},
        {"source-ref": f"s3://{BUCKET}/pool/b.txt", "label": "cat"},
    ]
    s3.put_bytes(f"s3://{BUCKET}/aug.jsonl", "\n".join(json.dumps(line) for line in lines).encode())
    project = _pipe_project(
        make_project,
        {
            "path": f"s3://{BUCKET}/aug.jsonl",
            "s3_data_type": "AugmentedManifestFile",
            "attribute_names": ["source-ref", "label"],
            "input_mode": "Pipe",
            "record_wrapper": "RecordIO",
        },
    )
    seen = read_inputs(_run(project, clean_environ, aws_settings).model_artifacts)
    assert seen["channels"]["train"]["epochs"] == [["alpha\n", "1", "beta\n", "cat"]] * 2


def test_a_manifest_naming_a_missing_object_is_refused_before_the_job_exists(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
) -> None:
    _put_files(s3, f"s3://{BUCKET}/pool")
    manifest = [{"prefix": f"s3://{BUCKET}/pool/"}, "a.txt", "gone.txt"]
    s3.put_bytes(f"s3://{BUCKET}/train.manifest", json.dumps(manifest).encode())
    project = _pipe_project(
        make_project, {"path": f"s3://{BUCKET}/train.manifest", "s3_data_type": "ManifestFile"}
    )
    spec = jobs.load_spec(project, environ=clean_environ)
    with pytest.raises(SpecError, match=r"gone\.txt"):
        jobs.submit(spec, settings=Settings(aws=aws_settings))
    assert not (project / ".sagelift").exists()
