"""The job's ``[environment]``: variable names and values SageMaker accepts, secrets refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sagelift.errors import SpecError

__all__ = ["ENV_KEY_RE", "MAX_ENV_ENTRIES", "MAX_ENV_VALUE", "SECRET_NAMES", "SECRET_NAME_RE"]

ENV_KEY_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,511}$")
# CreateTrainingJob.Environment: at most 100 entries, values at most 512 characters.
MAX_ENV_ENTRIES = 100
MAX_ENV_VALUE = 512
SECRET_NAME_RE = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY)", re.I)
SECRET_NAMES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


def _environment(table: Mapping[str, Any]) -> dict[str, str]:
    if len(table) > MAX_ENV_ENTRIES:
        raise SpecError(
            f"environment: {len(table)} variables, SageMaker allows at most {MAX_ENV_ENTRIES}",
            hint="move configuration into a config file shipped with the code",
            field="environment",
        )
    env: dict[str, str] = {}
    for key, value in table.items():
        where = f"environment.{key}"
        if not ENV_KEY_RE.match(key):
            raise SpecError(
                f"{where}: invalid variable name", hint="use [A-Za-z_][A-Za-z0-9_]*", field=where
            )
        if key in SECRET_NAMES or SECRET_NAME_RE.search(key):
            raise SpecError(
                f"{where}: looks like a secret; job environments are visible in the job's "
                "description and records",
                hint="give the job an IAM role or read the secret at run time from a secrets store",
                field=where,
            )
        if isinstance(value, (dict, list)) or value is None:
            raise SpecError(f"{where}: must be a string", hint="quote the value", field=where)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > MAX_ENV_VALUE:
            raise SpecError(
                f"{where}: value is {len(text)} characters, at most {MAX_ENV_VALUE} are allowed",
                hint="ship long values in a file with the code",
                field=where,
            )
        env[key] = text
    return env
