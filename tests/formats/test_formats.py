"""Data-format helpers: each format reads back what it wrote, whole and in chunks, from numpy,
scipy and pandas inputs; RecordIO framing follows MXNet's (split records, padding)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from sagelift import formats
from sagelift.formats.recordio import MAGIC

RNG = np.random.default_rng(7)


def _dense(rows: int = 40, columns: int = 6) -> tuple[np.ndarray, np.ndarray]:
    return RNG.random((rows, columns), dtype=np.float32), RNG.random(rows, dtype=np.float32)


def test_recordio_dense_round_trip() -> None:
    features, labels = _dense()
    buffer = io.BytesIO()
    assert formats.write_recordio(buffer, features, labels) == 40
    buffer.seek(0)
    back, back_labels = formats.read_recordio(buffer)
    assert back.dtype == np.float32
    assert np.array_equal(back, features)
    assert np.array_equal(back_labels, labels)


def test_recordio_dense_float64_and_int_and_no_labels_round_trip() -> None:
    for features, labels in (
        (RNG.random((9, 3)), RNG.random(9)),
        (RNG.integers(-9, 9, (9, 3)), RNG.integers(0, 4, 9)),
        (RNG.random((9, 3), dtype=np.float32), None),
    ):
        buffer = io.BytesIO()
        formats.write_recordio(buffer, features, labels)
        buffer.seek(0)
        back, back_labels = formats.read_recordio(buffer)
        assert np.array_equal(back, features)
        assert (back_labels is None) if labels is None else np.array_equal(back_labels, labels)


def test_recordio_sparse_round_trip() -> None:
    matrix = sparse.random(50, 20, density=0.2, format="csr", dtype=np.float32, random_state=3)
    labels = RNG.random(50, dtype=np.float32)
    buffer = io.BytesIO()
    formats.write_recordio(buffer, matrix, labels)
    buffer.seek(0)
    back, back_labels = formats.read_recordio(buffer)
    assert sparse.issparse(back)
    assert back.shape == (50, 20)
    assert (back != matrix).nnz == 0
    assert np.array_equal(back_labels, labels)


def test_recordio_records_are_framed_and_padded() -> None:
    buffer = io.BytesIO()
    formats.write_recordio(buffer, np.ones((1, 1), dtype=np.float32))
    data = buffer.getvalue()
    magic, length = struct.unpack("<II", data[:8])
    assert magic == MAGIC
    assert len(data) == 8 + length + (-length % 4)
    assert len(data) % 4 == 0


def test_recordio_reader_joins_split_records() -> None:
    whole = io.BytesIO()
    features = np.arange(6, dtype=np.float32).reshape(2, 3)
    formats.write_recordio(whole, features[:1])
    payload = whole.getvalue()[8 : 8 + struct.unpack("<I", whole.getvalue()[4:8])[0]]
    # A writer that splits at an embedded magic word: cut the payload in three parts.
    cut = [payload[:5], payload[5:9], payload[9:]]
    joined = struct.pack("<I", MAGIC).join(cut)
    split = io.BytesIO()
    for flag, part in zip((1, 2, 3), cut, strict=True):
        split.write(
            struct.pack("<II", MAGIC, flag << 29 | len(part)) + part + b"\0" * (-len(part) % 4)
        )
    split.seek(0)
    # The joined payload differs from the original (magic words re-inserted), so it is parsed
    # as whatever it encodes; what matters is that three parts make one record.
    frames = list(formats.recordio._frames(split))
    assert frames == [joined]


def test_recordio_bad_magic_is_refused() -> None:
    with pytest.raises(ValueError, match="magic"):
        formats.read_recordio(io.BytesIO(b"\x00" * 16))


def test_recordio_streams_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "data.rec"
    chunks = [_dense(25) for _ in range(4)]
    assert formats.write_chunks(formats.write_recordio, path, iter(chunks)) == 100
    read = list(formats.iter_recordio(str(path), chunk_rows=30))
    assert [c[0].shape[0] for c in read] == [30, 30, 30, 10]
    assert np.array_equal(np.vstack([c[0] for c in read]), np.vstack([c[0] for c in chunks]))


def test_csv_round_trip_label_first_no_header() -> None:
    features, labels = _dense(10, 4)
    buffer = io.BytesIO()
    formats.write_csv(buffer, features, labels)
    first = buffer.getvalue().decode().splitlines()[0].split(",")
    assert len(first) == 5
    assert float(first[0]) == pytest.approx(labels[0])
    buffer.seek(0)
    back, back_labels = formats.read_csv(buffer)
    assert np.array_equal(back.astype(np.float32), features)
    assert np.array_equal(back_labels.astype(np.float32), labels)


def test_csv_from_a_pandas_frame_in_chunks(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.5, 2.5, 3.5], "y": [0, 1, 0], "b": [4.0, 5.0, 6.0]})
    path = tmp_path / "train.csv"
    formats.write_chunks(formats.write_csv, path, [formats.split_frame(frame, "y")] * 2)
    assert path.read_text().splitlines()[:2] == ["0,1.5,4", "1,2.5,5"]
    back, labels = formats.read_csv(str(path))
    assert back.shape == (6, 2)
    assert labels.tolist() == [0, 1, 0, 0, 1, 0]


def test_libsvm_round_trip_is_one_based() -> None:
    matrix = sparse.random(30, 12, density=0.3, format="csr", dtype=np.float64, random_state=5)
    labels = RNG.integers(0, 2, 30)
    buffer = io.BytesIO()
    formats.write_libsvm(buffer, matrix, labels)
    indices = [
        int(cell.split(":")[0])
        for line in buffer.getvalue().decode().splitlines()
        for cell in line.split()[1:]
    ]
    assert min(indices) >= 1
    buffer.seek(0)
    back, back_labels = formats.read_libsvm(buffer, columns=12)
    assert back.shape == (30, 12)
    assert np.array_equal(back.toarray(), matrix.toarray())
    assert np.array_equal(back_labels, labels)


def test_libsvm_from_a_dense_array_leaves_zeros_out() -> None:
    buffer = io.BytesIO()
    formats.write_libsvm(buffer, np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]), np.array([1, 0]))
    assert buffer.getvalue().decode() == "1 2:2\n0 1:1 3:3\n"


@pytest.mark.parametrize(
    ("content_type", "text", "problem"),
    [
        ("text/csv", "label,a,b\n1,2,3\n", "header"),
        ("text/csv", "1,2,3\n1,x,3\n", "non-numeric"),
        ("text/csv", "1,2,3\n1,2\n", "columns"),
        ("text/libsvm", "1 0:1.5 3:2\n", "1-based"),
        ("text/libsvm", "1 3:1.5 2:2\n", "ascend"),
        ("text/libsvm", "yes 1:1\n", "label"),
        ("application/x-recordio-protobuf", "not recordio at all", "RecordIO"),
    ],
)
def test_validator_refuses_files_the_algorithm_cannot_read(
    tmp_path: Path, content_type: str, text: str, problem: str
) -> None:
    (tmp_path / "part-0").write_text(text)
    found = formats.validate_channel(tmp_path, content_type)
    assert found is not None
    assert problem in found.problem
    assert found.fix


def test_validator_accepts_what_the_writers_write(tmp_path: Path) -> None:
    features, labels = _dense(5, 3)
    formats.write_csv(tmp_path / "a.csv", features, labels)
    formats.write_libsvm(tmp_path / "b.libsvm", features, labels)
    formats.write_recordio(tmp_path / "c.rec", features, labels)
    (tmp_path / "_SUCCESS").write_text("ignored")
    assert formats.validate_file(tmp_path / "a.csv", "text/csv") is None
    assert formats.validate_file(tmp_path / "b.libsvm", "text/libsvm") is None
    assert formats.validate_file(tmp_path / "c.rec", "application/x-recordio-protobuf") is None
