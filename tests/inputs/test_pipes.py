"""The Pipe-mode feeder on real FIFOs: epochs, key order, Gzip, RecordIO, early close, stop."""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import pytest

from sagelift.aws import AwsSettings
from sagelift.data.channel_inputs import local_objects, pipe_feeders
from sagelift.runtime.pipes import (
    RECORDIO_MAGIC,
    ChannelFeeder,
    fifo_path,
    recordio_frame,
    recordio_header,
)
from sagelift.spec import Channel

from .conftest import FILES, IN_KEY_ORDER, write_files


def test_recordio_frame_is_magic_length_payload_and_padding() -> None:
    frame = recordio_frame(b"hello")
    assert frame[:4] == struct.pack("<I", 0xCED7230A) == bytes.fromhex("0a23d7ce")
    assert struct.unpack("<I", frame[4:8])[0] == 5  # continuation flag 0: a whole record
    assert frame[8:] == b"hello\0\0\0"
    assert len(recordio_frame(b"four")) == 12
    assert recordio_frame(b"") == struct.pack("<II", RECORDIO_MAGIC, 0)
    with pytest.raises(ValueError, match="at most"):
        recordio_header(1 << 29)


def test_local_objects_come_in_key_order(tmp_path: Path) -> None:
    root = write_files(tmp_path / "ch", FILES)
    assert [key for key, _ in local_objects(root)] == ["a.txt", "b.txt", "sub/c.txt"]
    assert local_objects(root / "a.txt") == [("a.txt", root / "a.txt")]


def _read_epochs(data_dir: Path, name: str, epochs: int, seen: list[bytes]) -> None:
    for epoch in range(epochs):
        path = fifo_path(data_dir, name, epoch)
        with open(path, "rb") as stream:
            seen.append(stream.read())
            # The next epoch's FIFO exists once this one is open.
            assert fifo_path(data_dir, name, epoch + 1).exists()


def _feed(tmp_path: Path, channel: Channel, epochs: int = 2) -> list[bytes]:
    data_dir = tmp_path / "data"
    (feeder,) = pipe_feeders([channel], data_dir, AwsSettings(), scratch=tmp_path / "scratch")
    feeder.prepare()
    assert fifo_path(data_dir, channel.name, 0).exists()
    assert not fifo_path(data_dir, channel.name, 1).exists()
    feeder.start()
    seen: list[bytes] = []
    reader = threading.Thread(target=_read_epochs, args=(data_dir, channel.name, epochs, seen))
    reader.start()
    reader.join(30)
    feeder.stop()
    assert not reader.is_alive()
    return seen


def test_each_epoch_streams_the_channel_in_key_order(tmp_path: Path) -> None:
    root = write_files(tmp_path / "train", FILES)
    channel = Channel(name="train", uri=str(root), input_mode="Pipe")
    assert _feed(tmp_path, channel) == ["".join(IN_KEY_ORDER).encode()] * 2


def test_gzip_objects_are_decompressed_and_recordio_wraps_each(tmp_path: Path) -> None:
    root = write_files(tmp_path / "train", FILES, gzipped=True)
    channel = Channel(
        name="train",
        uri=str(root),
        input_mode="Pipe",
        compression="Gzip",
        record_wrapper="RecordIO",
    )
    expected = b"".join(recordio_frame(text.encode()) for text in IN_KEY_ORDER)
    assert _feed(tmp_path, channel, epochs=3) == [expected] * 3


def test_a_reader_that_closes_early_ends_the_epoch_only(tmp_path: Path) -> None:
    big = tmp_path / "train" / "big.bin"
    big.parent.mkdir()
    big.write_bytes(b"x" * (4 << 20))
    data_dir = tmp_path / "data"
    feeder = ChannelFeeder(data_dir, "train", lambda: _records_of(big))
    feeder.prepare()
    feeder.start()
    with open(fifo_path(data_dir, "train", 0), "rb") as stream:
        assert stream.read(10) == b"x" * 10
    with open(fifo_path(data_dir, "train", 1), "rb") as stream:
        assert len(stream.read()) == 4 << 20
    feeder.stop()
    assert feeder.epochs_fed == 2


def _records_of(path: Path):  # type: ignore[no-untyped-def]
    from sagelift.runtime.pipes import PipeRecord

    return [PipeRecord(open=lambda: open(path, "rb"), what=path.name)]


def test_stop_gives_up_a_fifo_nobody_opens(tmp_path: Path) -> None:
    feeder = ChannelFeeder(tmp_path, "train", lambda: [])
    feeder.prepare()
    feeder.start()
    feeder.stop(timeout=2)
    assert feeder._thread is not None
    assert not feeder._thread.is_alive()
    assert os.path.exists(fifo_path(tmp_path, "train", 0))


def test_a_damaged_gzip_object_is_reported_and_the_epoch_ends(tmp_path: Path) -> None:
    root = write_files(tmp_path / "train", {"a.gz": "not gzip"})
    channel = Channel(name="train", uri=str(root), input_mode="Pipe", compression="Gzip")
    errors: list[str] = []
    (feeder,) = pipe_feeders(
        [channel], tmp_path / "data", AwsSettings(), scratch=tmp_path, on_error=errors.append
    )
    feeder.prepare()
    feeder.start()
    with open(fifo_path(tmp_path / "data", "train", 0), "rb") as stream:
        assert stream.read() == b""
    feeder.stop()
    assert errors
    assert "a.gz could not be read" in errors[0]
