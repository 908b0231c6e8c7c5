from __future__ import annotations

import pytest

from sagelift.errors import ConfigError
from sagelift.images.refs import (
    ImageRef,
    ecr_image_ref,
    ecr_registry,
    ecr_repository_uri,
    parse_ecr_registry,
    parse_image_ref,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python", ImageRef(repository="python")),
        ("python:3.11", ImageRef(repository="python", tag="3.11")),
        (
            "nvidia/cuda:12.4.1-runtime-ubuntu22.04",
            ImageRef(repository="nvidia/cuda", tag="12.4.1-runtime-ubuntu22.04"),
        ),
        (
            "localhost/sagelift/base:bookworm",
            ImageRef(registry="localhost", repository="sagelift/base", tag="bookworm"),
        ),
        (
            "127.0.0.1:5000/team/train:1",
            ImageRef(registry="127.0.0.1:5000", repository="team/train", tag="1"),
        ),
        ("127.0.0.1:5000/train", ImageRef(registry="127.0.0.1:5000", repository="train")),
        (
            f"docker.io/library/python@{DIGEST}",
            ImageRef(registry="docker.io", repository="library/python", digest=DIGEST),
        ),
        (
            f"123456789012.dkr.ecr.us-east-1.amazonaws.com/my-train:deps-1@{DIGEST}",
            ImageRef(
                registry="123456789012.dkr.ecr.us-east-1.amazonaws.com",
                repository="my-train",
                tag="deps-1",
                digest=DIGEST,
            ),
        ),
    ],
)
def test_parse_and_format_round_trip(text: str, expected: ImageRef) -> None:
    ref = parse_image_ref(text)
    assert ref == expected
    assert str(ref) == text


@pytest.mark.parametrize(
    "text",
    ["", "Upper/case:1", "repo:", "repo:-bad", "repo@sha256:xyz", "a//b", "repo:" + "t" * 129],
)
def test_malformed_references_are_config_errors_with_hints(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_image_ref(text)
    assert caught.value.hint


def test_with_helpers_replace_parts() -> None:
    ref = parse_image_ref("localhost/sagelift/proj:deps-1")
    assert str(ref.with_tag("code-2")) == "localhost/sagelift/proj:code-2"
    assert str(ref.with_registry("127.0.0.1:5001")) == "127.0.0.1:5001/sagelift/proj:deps-1"
    assert str(ref.with_digest(DIGEST)) == f"localhost/sagelift/proj:deps-1@{DIGEST}"
    assert ref.name == "localhost/sagelift/proj"
    with pytest.raises(ConfigError):
        ref.with_tag("bad tag")


def test_ecr_uris() -> None:
    assert (
        ecr_registry("123456789012", "eu-west-1") == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    )
    assert ecr_registry("123456789012", "cn-north-1").endswith(".amazonaws.com.cn")
    assert (
        ecr_repository_uri("123456789012", "us-east-1", "my-train")
        == "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-train"
    )
    ref = ecr_image_ref("123456789012", "us-east-1", "team/train", tag="deps-abc")
    assert str(ref) == "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/train:deps-abc"
    assert parse_ecr_registry(ref.registry or "") == ("123456789012", "us-east-1")
    assert parse_ecr_registry("127.0.0.1:5000") is None


def test_registry_host_override_keeps_repository_and_tag() -> None:
    ref = ecr_image_ref(
        "123456789012", "us-east-1", "my-train", tag="deps-1", registry_host="127.0.0.1:5000"
    )
    assert str(ref) == "127.0.0.1:5000/my-train:deps-1"


@pytest.mark.parametrize(
    ("account", "region", "repository"),
    [
        ("12345", "us-east-1", "r"),
        ("123456789012", "US_EAST", "r"),
        ("123456789012", "us-east-1", "Bad"),
    ],
)
def test_bad_ecr_parts_are_config_errors(account: str, region: str, repository: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ecr_image_ref(account, region, repository)
    assert caught.value.hint
