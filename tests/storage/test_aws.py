"""The AWS client factory and the mapping of botocore errors to sagelift's error tree."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

from sagelift import __version__
from sagelift.aws import AwsSettings, client, map_client_error, session
from sagelift.errors import (
    BackendError,
    ConfigError,
    CredentialsError,
    ImageError,
    InfrastructureError,
    MissingDependency,
    StorageError,
)


def client_error(code: str, operation: str = "PutObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} says no"}}, operation)


def test_client_applies_settings_and_user_agent(aws_settings: AwsSettings) -> None:
    s3 = client("s3", aws_settings)
    assert s3.meta.endpoint_url == aws_settings.endpoint_url
    assert s3.meta.region_name == "us-east-1"
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    agents: list[str] = []
    s3.meta.events.register(
        "before-send", lambda request, **_: agents.append(request.headers["User-Agent"].decode())
    )
    s3.list_buckets()
    assert f"sagelift/{__version__}" in agents[0]


def test_unknown_profile_is_a_config_error(moto_endpoint: str) -> None:
    with pytest.raises(ConfigError) as info:
        session(AwsSettings(profile="sagelift-no-such-profile"))
    assert info.value.hint is not None
    assert "profile" in info.value.hint


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependency) as info:
        session(AwsSettings())
    assert info.value.hint == "pip install 'sagelift[aws]'"
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("action", "family"),
    [
        ("s3:PutObject", StorageError),
        ("sagemaker:CreateTrainingJob", BackendError),
        ("ecr:GetAuthorizationToken", ImageError),
        ("logs:GetLogEvents", InfrastructureError),
    ],
)
def test_access_denied_names_the_permission(action: str, family: type[Exception]) -> None:
    error = map_client_error(client_error("AccessDenied"), action=action, resource="thing")
    assert type(error) is family
    assert error.exit_code == 3
    assert error.hint == f"grant {action} to your IAM identity on thing"


def test_no_credentials_is_a_credentials_error() -> None:
    error = map_client_error(NoCredentialsError(), action="s3:GetObject")
    assert isinstance(error, CredentialsError)
    assert error.exit_code == 3
    assert error.hint


def test_refused_credentials_is_a_credentials_error() -> None:
    error = map_client_error(client_error("InvalidAccessKeyId"), action="s3:GetObject")
    assert isinstance(error, CredentialsError)


def test_no_such_bucket_is_a_storage_error_with_the_fix() -> None:
    error = map_client_error(client_error("NoSuchBucket"), action="sagemaker:CreateTrainingJob")
    assert isinstance(error, StorageError)
    assert error.hint is not None
    assert "aws s3 mb" in error.hint


def test_endpoint_connection_error() -> None:
    exc = EndpointConnectionError(endpoint_url="https://s3.example")
    error = map_client_error(exc, action="s3:ListBucket", resource="s3://b/p")
    assert isinstance(error, StorageError)
    assert "s3:ListBucket on s3://b/p" in str(error)


def test_profile_not_found_is_a_config_error() -> None:
    error = map_client_error(ProfileNotFound(profile="x"), action="open an AWS session")
    assert isinstance(error, ConfigError)


def test_wrapped_client_errors_are_unwrapped() -> None:
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise client_error("AccessDenied")
        except ClientError as inner:
            raise S3UploadFailedError("Failed to upload") from inner
    except S3UploadFailedError as outer:
        error = map_client_error(outer, action="s3:PutObject")
    assert error.hint is not None
    assert "s3:PutObject" in error.hint


def test_unknown_errors_keep_the_aws_message() -> None:
    error: Any = map_client_error(client_error("WeirdThing"), action="sagemaker:Describe")
    assert isinstance(error, BackendError)
    assert "WeirdThing" in str(error)
    assert error.hint
