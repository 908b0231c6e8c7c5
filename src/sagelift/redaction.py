"""Which hyperparameters look like secrets, and hiding their values in sagelift's own output.

A secret passed as a hyperparameter travels in the clear: in the job's arguments, its
``hyperparameters.json``, ``SM_HPS`` and, on SageMaker, the job's description. sagelift cannot
change that (the script needs the value), but it says so at submit and never repeats such a value
itself: its log lines, ``sagelift config`` and the MLflow run's params show ``***``.

A name looks like a secret when one of its words (split at ``_``, ``-``, ``.`` and camelCase) is
a secret word (token, password, passwd, passphrase, secret, credential), ends in ``token``
(``authtoken``), or two neighbouring words make api/access/private + key (``api_key``, ``apiKey``,
``AWS_ACCESS_KEY_ID``). Whole words, so ``max_tokens`` and ``tokenizer`` are not secrets. Pure
and stdlib only: the launcher uses it inside the job too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

__all__ = [
    "MASK",
    "is_secret_name",
    "mask_arguments",
    "mask_values",
    "secret_names",
    "secrets_notice",
]

MASK = "***"

_WORDS = frozenset(
    {
        "token",
        "password",
        "passwd",
        "passphrase",
        "secret",
        "secrets",
        "credential",
        "credentials",
        "apikey",
        "accesskey",
        "privatekey",
    }
)
_KEY_PREFIXES = frozenset({"api", "access", "private"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

V = TypeVar("V")


def is_secret_name(name: str) -> bool:
    """Whether the hyperparameter (or variable) ``name`` looks like it holds a secret."""
    words = [w.lower() for w in _WORD.findall(name)]
    for index, word in enumerate(words):
        if word in _WORDS or word.endswith("token"):
            return True
        if word == "key" and index > 0 and words[index - 1] in _KEY_PREFIXES:
            return True
    return False


def secret_names(names: Iterable[str]) -> tuple[str, ...]:
    """The secret-looking names among ``names``, sorted."""
    return tuple(sorted(n for n in set(names) if is_secret_name(n)))


def mask_values(values: Mapping[str, V]) -> dict[str, V | str]:
    """``values`` with the value of each secret-looking name replaced by ``MASK``."""
    return {k: MASK if is_secret_name(k) else v for k, v in values.items()}


def mask_arguments(argv: Sequence[str], names: Iterable[str]) -> list[str]:
    """``argv`` with the value of each ``--NAME VALUE`` or ``--NAME=VALUE`` of ``names`` masked."""
    hidden = {f"--{n}" for n in names}
    shown = list(argv)
    for index, arg in enumerate(shown):
        flag, sep, _ = arg.partition("=")
        if flag in hidden and sep:
            shown[index] = f"{flag}={MASK}"
        elif arg in hidden and index + 1 < len(shown):
            shown[index + 1] = MASK
    return shown


def secrets_notice(names: Sequence[str], *, remote: bool) -> str:
    """The one-line warning for the secret-looking hyperparameters ``names`` (not empty)."""
    many = len(names) > 1
    where = "arguments, hyperparameters.json, SM_HPS"
    if remote:
        where += ", the SageMaker job description"
    return (
        f"{'hyperparameters' if many else 'hyperparameter'} {', '.join(names)} "
        f"{'look like secrets' if many else 'looks like a secret'}: sagelift masks "
        f"{'their values' if many else 'its value'} as {MASK} in its own output, but the job "
        f"gets {'them' if many else 'it'} in the clear ({where}); read secrets at run time "
        "instead, from a secrets manager or (local jobs) an environment variable of your shell, "
        "which the job inherits"
    )
