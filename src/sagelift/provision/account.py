"""The account setup works in: its clients, the caller's identity, and botocore errors
converted to sagelift errors (``_aws``, ``_absent``).

Every client comes from ``sagelift.aws.client``. The underscored helpers are the provision
package's own, shared by its parts (observation, apply, CI setup); they are no public API.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sagelift.aws import AwsSettings, client, map_client_error
from sagelift.errors import CredentialsError

__all__ = ["AccountClients", "Identity", "caller_identity"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    account: str
    arn: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountClients:
    """The clients setup needs, all in the job's region."""

    s3: Any
    ecr: Any
    iam: Any

    @classmethod
    def open(cls, settings: AwsSettings) -> AccountClients:
        return cls(
            s3=client("s3", settings), ecr=client("ecr", settings), iam=client("iam", settings)
        )


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def _aws(action: str, resource: str | None = None) -> Iterator[None]:
    """Convert botocore errors raised inside into sagelift errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise map_client_error(exc, action=action, resource=resource) from exc


def _absent(call: Callable[[], Any], codes: frozenset[str], action: str, resource: str) -> Any:
    """``call()``, or None when AWS answers with one of ``codes`` (the thing is not there)."""
    from botocore.exceptions import ClientError

    with _aws(action, resource):
        try:
            return call()
        except ClientError as exc:
            if _code(exc) in codes:
                return None
            raise


def caller_identity(settings: AwsSettings) -> Identity:
    """The account and ARN of the credentials in use (STS GetCallerIdentity).

    Raises CredentialsError (or another InfrastructureError) when AWS cannot be asked.
    """
    sts = client("sts", settings)
    with _aws("sts:GetCallerIdentity"):
        answer = sts.get_caller_identity()
    account = str(answer.get("Account", ""))
    if not account:
        raise CredentialsError(
            "STS returned no account for these credentials", hint="check AWS_PROFILE"
        )
    return Identity(account=account, arn=str(answer.get("Arn", "")))


def _tag_map(entries: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(e[key]): str(e[value]) for e in entries or ()}


def _document(raw: Any) -> Mapping[str, Any] | None:
    """IAM returns policy documents URL-encoded JSON (botocore usually decodes them)."""
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        return raw
    text = urllib.parse.unquote(str(raw))
    parsed = json.loads(text)
    return parsed if isinstance(parsed, Mapping) else None
