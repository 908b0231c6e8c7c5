"""Parsing storage URIs and choosing a storage by scheme."""

from __future__ import annotations

import pytest

from sagelift.errors import SpecError
from sagelift.storage import StorageURI, open_storage, parse_uri, shared_memory_storage
from sagelift.storage.local import LocalStorage
from sagelift.storage.memory import MemoryStorage


@pytest.mark.parametrize(
    ("text", "scheme", "netloc", "path"),
    [
        ("s3://my-bucket/some/key.txt", "s3", "my-bucket", "some/key.txt"),
        ("s3://my-bucket", "s3", "my-bucket", ""),
        ("s3://my-bucket/", "s3", "my-bucket", ""),
        ("S3://my.bucket.1/k", "s3", "my.bucket.1", "k"),
        ("s3://b12/with space/x", "s3", "b12", "with space/x"),
        ("memory://store/a/b", "memory", "store", "a/b"),
        ("memory:///a", "memory", "", "a"),
        ("file:///abs/path", "file", "", "/abs/path"),
        ("file://localhost/abs", "file", "", "/abs"),
        ("data/train", "file", "", "data/train"),
        ("/abs/data", "file", "", "/abs/data"),
    ],
)
def test_parse(text: str, scheme: str, netloc: str, path: str) -> None:
    assert parse_uri(text) == StorageURI(scheme=scheme, netloc=netloc, path=path)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " s3://bucket/k",
        "s3://bucket/k ",
        "s3://",
        "s3:///key",
        "s3://ab/k",
        "s3://Bucket/k",
        "s3://bucket_name/k",
        "s3://-bucket/k",
        "s3://bucket-/k",
        "s3://my..bucket/k",
        "s3://192.168.1.1/k",
        "s3://bu cket/k",
        "s3:/bucket/k",
        "s3://bucket/../k",
        "s3://bucket/a\nb",
        "file://host/path",
        "gs://bucket/k",
    ],
)
def test_malformed_uris_are_spec_errors_with_hints(text: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_uri(text)
    assert info.value.hint
    assert info.value.exit_code == 2


def test_child_and_str_round_trip() -> None:
    root = parse_uri("s3://bucket/runs/")
    assert str(root.child("a/b.txt")) == "s3://bucket/runs/a/b.txt"
    assert parse_uri(str(root.child("a/b.txt"))) == root.child("a/b.txt")
    assert str(parse_uri("file:///x/y").child("z")) == "file:///x/y/z"
    assert str(parse_uri("rel/dir")) == "rel/dir"


def test_local_path_only_for_files() -> None:
    assert str(parse_uri("file:///x").local_path()) == "/x"
    with pytest.raises(SpecError):
        parse_uri("s3://bucket/x").local_path()


def test_open_storage_by_scheme() -> None:
    assert isinstance(open_storage("data/x"), LocalStorage)
    assert isinstance(open_storage("file:///tmp"), LocalStorage)
    assert isinstance(open_storage("file"), LocalStorage)
    assert isinstance(open_storage(parse_uri("memory://a/b")), MemoryStorage)


def test_memory_storage_is_shared_within_the_process() -> None:
    open_storage("memory://shared/k").put_bytes("memory://shared/k", b"v")
    try:
        assert open_storage("memory").get_bytes("memory://shared/k") == b"v"
    finally:
        shared_memory_storage().delete("memory://shared/k")


def test_unknown_scheme_names_the_supported_ones() -> None:
    with pytest.raises(SpecError) as info:
        open_storage("gs://bucket/key")
    assert info.value.hint is not None
    for scheme in ("file://", "memory://", "s3://"):
        assert scheme in info.value.hint
