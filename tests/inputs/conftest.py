from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path
from typing import Any

from tests.aws_server import aws_settings, moto_endpoint

__all__ = ["aws_settings", "gz", "moto_endpoint", "read_inputs", "write_files"]

#: The objects of the test channel, out of key order on purpose: a.txt, b.txt, sub/c.txt.
FILES = {"b.txt": "beta\n", "sub/c.txt": "gamma\n", "a.txt": "alpha\n"}
IN_KEY_ORDER = ["alpha\n", "beta\n", "gamma\n"]


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def write_files(root: Path, files: dict[str, str], *, gzipped: bool = False) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gz(text) if gzipped else text.encode())
    return root


def read_inputs(model_artifacts: str | None) -> dict[str, Any]:
    """What the ``reads_inputs`` fixture reported, from the job's model.tar.gz."""
    assert model_artifacts is not None
    with tarfile.open(model_artifacts) as tar:
        member = tar.extractfile("inputs.json")
        assert member is not None
        data: dict[str, Any] = json.loads(member.read())
    return data
