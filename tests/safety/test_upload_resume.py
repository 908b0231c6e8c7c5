"""A submission killed while its channel data goes up is continued by the next one.

The first submission runs in a child process that is killed with SIGKILL (no cleanup of any
kind) once a few multipart parts of the channel's large files have landed in S3. What S3 then
holds is measured (objects, and parts of unfinished multipart uploads); the second submission,
in this process against the same moto server, must send exactly the rest, and the job's channel
must be complete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sagelift.aws import AwsSettings, client
from sagelift.storage.snapshot import MANIFEST_SUFFIX, TREE_SUFFIX
from tests.conftest import MakeProject
from tests.safety.test_immutable_inputs import (
    BUCKET,
    Sent,
    _channel_data,
    _channel_uri,
    _local,
    _project,
    _submit,
    cloud,
    sent,
)

__all__ = ["cloud", "sent"]

MB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]

# Submits the project in argv[1]; SIGKILLs itself once argv[2] UploadPart calls for channel
# data have been answered.
KILLED_SUBMISSION = """
import os, signal, sys, threading
from pathlib import Path
import boto3.session
from sagelift import jobs

limit = int(sys.argv[2])
lock = threading.Lock()
done = [0]
original = boto3.session.Session.client

def answered(http_response=None, **kwargs):
    if http_response is None or http_response.status_code != 200:
        return  # an error answer (a busy server) stored no part
    with lock:
        done[0] += 1
        if done[0] >= limit:
            os.kill(os.getpid(), signal.SIGKILL)

def hooked(self, *args, **kwargs):
    made = original(self, *args, **kwargs)
    made.meta.events.register("after-call.s3.UploadPart", answered)
    return made

boto3.session.Session.client = hooked
project = Path(sys.argv[1])
jobs.submit(jobs.load_spec(project, environ={}), settings=jobs.load_settings(project, environ={}))
"""


def _data_key(key: str) -> bool:
    return "/data/" in f"/{key}" and not key.endswith((MANIFEST_SUFFIX, TREE_SUFFIX))


def _landed(aws: AwsSettings) -> tuple[int, int]:
    """Bytes of channel data in S3 as whole objects, and as parts of unfinished uploads."""
    s3: Any = client("s3", aws)
    objects = sum(
        item["Size"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for item in page.get("Contents", [])
        if _data_key(item["Key"])
    )
    parts = 0
    for upload in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        listed = s3.list_parts(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
        parts += sum(part["Size"] for part in listed.get("Parts", []))
    return objects, parts


def test_a_killed_upload_is_continued_and_only_the_rest_is_sent(
    make_project: MakeProject, cloud: AwsSettings, sent: Sent
) -> None:
    project = _project(make_project, cloud)
    train = project / "data" / "train"
    # Two files of three 8 MiB parts each (the multipart threshold is 8 MiB).
    (train / "big-1.bin").write_bytes(os.urandom(20 * MB))
    (train / "sub" / "big-2.bin").write_bytes(os.urandom(20 * MB))
    total = sum(len(body) for body in _local(train).values())

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SUBMISSION, str(project), "2"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    objects, parts = _landed(cloud)
    # The test interrupts a multipart upload, not only small files: parts of it have landed.
    assert parts >= 8 * MB

    sent.clear()
    record = _submit(project)

    sent_now = sum(n for key, n in sent.puts.items() if _data_key(key))
    assert sent_now == total - objects - parts, sent.puts
    assert _channel_data(cloud, _channel_uri(cloud, record.name)) == _local(train)
    s3: Any = client("s3", cloud)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
