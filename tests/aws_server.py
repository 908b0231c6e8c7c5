"""A real moto server on loopback for tests that speak to AWS APIs.

``start_moto()`` starts one in this process on 127.0.0.1 and a free port. The session fixture
``moto_endpoint`` starts it once, points boto3 at dummy credentials and away from the user's AWS
config files, and yields the endpoint URL; ``aws_settings`` wipes the server's state before each
test and gives ``AwsSettings`` aimed at it. Nothing here can reach real AWS: every client gets
``endpoint_url`` on 127.0.0.1 and the credentials are the literal ``testing``.

To use the fixtures in a test package, import them into its ``conftest.py``.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator

import pytest

from sagelift.aws import AwsSettings

REGION = "us-east-1"

_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/sagelift-test/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/sagelift-test/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CLEARED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def start_moto() -> tuple[str, Callable[[], None]]:
    """Start a moto server on 127.0.0.1 (free port); return its URL and a function stopping it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    if host != "127.0.0.1":
        server.stop()
        raise RuntimeError(f"moto bound to {host}, expected loopback")
    return f"http://{host}:{port}", server.stop


def reset_moto(endpoint: str) -> None:
    """Wipe every bucket, job and log the server holds."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server shared by the test session, with a fake AWS environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name in _CLEARED_ENV:
            patch.delenv(name, raising=False)
        for name, value in _FAKE_ENV.items():
            patch.setenv(name, value)
        endpoint, stop = start_moto()
        try:
            yield endpoint
        finally:
            stop()


@pytest.fixture
def aws_settings(moto_endpoint: str) -> AwsSettings:
    """Settings for a freshly reset moto server; retries kept short so failures surface fast."""
    reset_moto(moto_endpoint)
    return AwsSettings(region=REGION, endpoint_url=moto_endpoint, max_attempts=2)
