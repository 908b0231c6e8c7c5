"""S3 specifics: what goes over the wire, object metadata, and how AWS failures reach the user."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sagelift.aws import AwsSettings
from sagelift.errors import CredentialsError, StorageError
from sagelift.storage import open_storage
from sagelift.storage.s3 import S3Storage

BUCKET = "sagelift-test"


@pytest.fixture
def storage(aws_settings: AwsSettings) -> S3Storage:
    storage = S3Storage(aws_settings)
    storage.client.create_bucket(Bucket=BUCKET)
    return storage


def count_calls(storage: S3Storage) -> Counter[str]:
    calls: Counter[str] = Counter()

    def seen(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    storage.client.meta.events.register("before-call.s3", seen)
    return calls


def test_open_storage_gives_s3_for_s3_uris(aws_settings: AwsSettings) -> None:
    assert isinstance(open_storage("s3://some-bucket/x", aws=aws_settings), S3Storage)


def test_a_resync_lists_once_and_asks_about_no_file(storage: S3Storage, tmp_path: Path) -> None:
    for i in range(120):
        (tmp_path / f"f{i:03}.txt").write_text(f"file {i}\n")
    storage.sync_up(tmp_path, f"s3://{BUCKET}/many")
    calls = count_calls(storage)
    report = storage.sync_up(tmp_path, f"s3://{BUCKET}/many")
    assert report.files_skipped == 120
    assert dict(calls) == {"ListObjectsV2": 1}


def test_objects_carry_their_sha256(storage: S3Storage, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"content")
    storage.sync_up(tmp_path, f"s3://{BUCKET}/p")
    storage.put_bytes(f"s3://{BUCKET}/q.bin", b"bytes")
    head = storage.client.head_object(Bucket=BUCKET, Key="p/a.txt")
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"content").hexdigest()
    head = storage.client.head_object(Bucket=BUCKET, Key="q.bin")
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"bytes").hexdigest()


def test_a_foreign_object_of_equal_size_is_replaced(storage: S3Storage, tmp_path: Path) -> None:
    storage.client.put_object(Bucket=BUCKET, Key="p/a.txt", Body=b"AAAA")
    (tmp_path / "a.txt").write_bytes(b"BBBB")
    report = storage.sync_up(tmp_path, f"s3://{BUCKET}/p")
    assert report.files_sent == 1
    assert storage.get_bytes(f"s3://{BUCKET}/p/a.txt") == b"BBBB"


def test_sync_down_refuses_keys_that_climb_out(storage: S3Storage, tmp_path: Path) -> None:
    storage.client.put_object(Bucket=BUCKET, Key="p/ok.txt", Body=b"ok")
    storage.client.put_object(Bucket=BUCKET, Key="p/a/../../escape.txt", Body=b"x")
    listed = {info.relative for info in storage.list(f"s3://{BUCKET}/p")}
    if "a/../../escape.txt" not in listed:
        pytest.skip("the server normalised the key")
    with pytest.raises(StorageError, match="not a plain relative path"):
        storage.sync_down(f"s3://{BUCKET}/p", tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_missing_bucket_names_the_fix(aws_settings: AwsSettings, tmp_path: Path) -> None:
    storage = S3Storage(aws_settings)
    with pytest.raises(StorageError) as info:
        storage.put_bytes("s3://no-such-bucket-here/k", b"x")
    assert "bucket" in str(info.value)
    assert info.value.hint is not None
    assert "create the bucket" in info.value.hint


def test_missing_object_is_reported_as_such(storage: S3Storage, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such object"):
        storage.download_file(f"s3://{BUCKET}/absent", tmp_path / "x")
    assert not storage.exists(f"s3://{BUCKET}/absent")


def test_no_credentials_is_a_credentials_error(
    aws_settings: AwsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CredentialsError) as info:
        S3Storage(aws_settings).get_bytes(f"s3://{BUCKET}/k")
    assert info.value.exit_code == 3
    assert info.value.hint is not None
    assert "aws configure" in info.value.hint


def test_unreachable_endpoint_is_a_storage_error(tmp_path: Path) -> None:
    settings = AwsSettings(region="us-east-1", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    with pytest.raises(StorageError) as info:
        S3Storage(settings).get_bytes(f"s3://{BUCKET}/k")
    assert "could not connect" in str(info.value)
    assert info.value.hint is not None
    assert "endpoint_url" in info.value.hint


def test_small_puts_skip_the_100_continue_round_trip(storage: S3Storage) -> None:
    sent: list[dict[str, str]] = []
    storage.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    storage.put_bytes(f"s3://{BUCKET}/small", b"x" * 1000)
    assert sent
    assert "Expect" not in sent[0]
