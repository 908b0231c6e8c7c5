"""RecordIO-protobuf, the input format of SageMaker's first-party algorithms
(``application/x-recordio-protobuf``).

Each row is one ``aialgs.data.Record`` protobuf message (the schema the SageMaker Python SDK
publishes as ``src/sagemaker/amazon/record.proto``): ``features["values"]`` holds the row as a
tensor (dense: ``values``; sparse: ``values``, ``keys`` = column indices and ``shape`` =
``[columns]``), ``label["values"]`` the label. The tensor type follows the array's dtype as the
SDK's writer does: float32 -> Float32Tensor, float64 -> Float64Tensor, integers -> Int32Tensor.

Records are framed as MXNet RecordIO: a little-endian magic word ``0xced7230a``, a length word
whose upper three bits are a continuation flag (0: whole record; 1/2/3: first, middle, last part
of a record split where the payload held the magic word), the payload, then zero padding to a
multiple of four bytes. The writer never splits (as the SDK's), the reader joins split records.

The message is encoded here directly (wire format, no generated code): every record of a dense
float matrix has the same layout, so a chunk is written with a few numpy copies.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO, Any

from sagelift.formats.tables import Sink, as_dense_or_sparse, as_labels, is_sparse, numpy, open_sink

__all__ = ["MAGIC", "iter_recordio", "read_recordio", "write_recordio"]

MAGIC = 0xCED7230A
_LENGTH_MASK = (1 << 29) - 1
_MAGIC_BYTES = struct.pack("<I", MAGIC)
#: ``Value`` oneof field numbers (record.proto).
_FLOAT32, _FLOAT64, _INT32 = 2, 3, 7
_KEY = b"\x0a\x06values"
#: Rows encoded per numpy block on the dense path: bounds the memory a write needs.
_BLOCK_ROWS = 32768


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int32/int64 negatives are ten-byte two's complement varints
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tensor_field(dtype: Any) -> int:
    np = numpy()
    if dtype == np.float32:
        return _FLOAT32
    if dtype == np.float64:
        return _FLOAT64
    if np.issubdtype(dtype, np.integer):
        return _INT32
    raise ValueError(f"unsupported dtype {dtype}: use float32, float64 or an integer type")


def _packed(field: int, payload: bytes) -> bytes:
    if not payload:
        return b""
    return bytes([field << 3 | 2]) + _varint(len(payload)) + payload


def _values_payload(kind: int, values: Any) -> bytes:
    np = numpy()
    if kind == _FLOAT32:
        return bytes(np.ascontiguousarray(values, dtype="<f4").data)
    if kind == _FLOAT64:
        return bytes(np.ascontiguousarray(values, dtype="<f8").data)
    return b"".join(_varint(int(v)) for v in values)


def _value(kind: int, values: Any, keys: Any = None, shape: tuple[int, ...] = ()) -> bytes:
    tensor = _packed(1, _values_payload(kind, values))
    if keys is not None:
        tensor += _packed(2, b"".join(_varint(int(k)) for k in keys))
    if shape:
        tensor += _packed(3, b"".join(_varint(s) for s in shape))
    return bytes([kind << 3 | 2]) + _varint(len(tensor)) + tensor


def _entry(field: int, value: bytes) -> bytes:
    body = _KEY + b"\x12" + _varint(len(value)) + value
    return bytes([field << 3 | 2]) + _varint(len(body)) + body


def _frame(payload: bytes) -> bytes:
    pad = -len(payload) % 4
    return _MAGIC_BYTES + struct.pack("<I", len(payload)) + payload + b"\x00" * pad


def write_recordio(sink: Sink, features: Any, labels: Any = None) -> int:
    """Append one RecordIO-protobuf record per row of ``features`` (array, sparse matrix or
    DataFrame) to ``sink``, with ``labels[i]`` as row i's label. Returns the rows written.

    The bytes equal those of the SageMaker SDK's ``write_numpy_to_dense_tensor`` /
    ``write_spmatrix_to_sparse_tensor`` for the same arrays. Raises ValueError for shapes or
    dtypes the format cannot hold.
    """
    matrix = as_dense_or_sparse(features)
    rows = matrix.shape[0]
    label_array = as_labels(labels, rows)
    kind = _tensor_field(matrix.dtype)
    label_kind = None if label_array is None else _tensor_field(label_array.dtype)
    with open_sink(sink) as handle:
        if is_sparse(matrix):
            _write_sparse(handle, matrix, kind, label_array, label_kind)
        elif kind == _INT32 or label_kind == _INT32:
            for i in range(rows):
                record = _entry(1, _value(kind, matrix[i]))
                if label_array is not None and label_kind is not None:
                    record += _entry(2, _value(label_kind, label_array[i : i + 1]))
                handle.write(_frame(record))
        else:
            _write_dense_floats(handle, matrix, kind, label_array, label_kind)
    return int(rows)


def _write_sparse(
    handle: IO[bytes], csr: Any, kind: int, labels: Any, label_kind: int | None
) -> None:
    columns = csr.shape[1]
    for i in range(csr.shape[0]):
        start, end = csr.indptr[i], csr.indptr[i + 1]
        value = _value(kind, csr.data[start:end], csr.indices[start:end], (columns,))
        record = _entry(1, value)
        if labels is not None and label_kind is not None:
            record += _entry(2, _value(label_kind, labels[i : i + 1]))
        handle.write(_frame(record))


def _write_dense_floats(
    handle: IO[bytes], matrix: Any, kind: int, labels: Any, label_kind: int | None
) -> None:
    """Every row has the same layout: one header, the row's bytes, one label part, padding."""
    np = numpy()
    rows, columns = matrix.shape
    width = 4 if kind == _FLOAT32 else 8
    # The encoding of one record with zeroed payloads gives the fixed bytes around them.
    head = _entry(1, _value(kind, np.zeros(columns, dtype=matrix.dtype)))
    prefix = head[: len(head) - width * columns]
    tail = b""
    label_width = 0
    if labels is not None and label_kind is not None:
        label_width = 4 if label_kind == _FLOAT32 else 8
        tail = _entry(2, _value(label_kind, np.zeros(1, dtype=labels.dtype)))[:-label_width]
    length = len(head) + len(tail) + label_width
    pad = -length % 4
    framing = _MAGIC_BYTES + struct.pack("<I", length) + prefix
    stride = len(framing) + width * columns + len(tail) + label_width + pad
    feature_type = "<f4" if kind == _FLOAT32 else "<f8"
    label_type = "<f4" if label_kind == _FLOAT32 else "<f8"
    at = len(framing) + width * columns
    for start in range(0, rows, _BLOCK_ROWS):
        block = matrix[start : start + _BLOCK_ROWS]
        n = block.shape[0]
        out = np.zeros((n, stride), dtype=np.uint8)
        out[:, : len(framing)] = np.frombuffer(framing, dtype=np.uint8)
        data = np.ascontiguousarray(block, dtype=feature_type)
        out[:, len(framing) : at] = data.view(np.uint8).reshape(n, width * columns)
        if label_width:
            out[:, at : at + len(tail)] = np.frombuffer(tail, dtype=np.uint8)
            values = np.ascontiguousarray(labels[start : start + n], dtype=label_type)
            out[:, at + len(tail) : at + len(tail) + label_width] = values.view(np.uint8).reshape(
                n, label_width
            )
        handle.write(out.data)


# --- reading -------------------------------------------------------------------------------


def _frames(handle: IO[bytes]) -> Iterator[bytes]:
    """Each record's payload; split records (continuation flag 1..3) are joined with the magic
    word they were split at. Raises ValueError on a bad magic word or a truncated record."""
    parts: list[bytes] = []
    while True:
        header = handle.read(8)
        if not header:
            if parts:
                raise ValueError("RecordIO: the file ends inside a split record")
            return
        if len(header) < 8:
            raise ValueError("RecordIO: truncated record header")
        magic, word = struct.unpack("<II", header)
        if magic != MAGIC:
            raise ValueError(f"RecordIO: bad magic word {magic:#010x} (expected {MAGIC:#010x})")
        flag, length = word >> 29, word & _LENGTH_MASK
        payload = handle.read(length)
        if len(payload) < length:
            raise ValueError("RecordIO: truncated record")
        handle.read(-length % 4)
        if flag == 0:
            yield payload
        elif flag == 1:
            parts = [payload]
        elif flag == 2:
            parts.append(payload)
        else:
            parts.append(payload)
            yield _MAGIC_BYTES.join(parts)
            parts = []


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message: varints as int, the rest as bytes."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _read_varint(data, at)
            yield field, wire, value
        elif wire == 2:
            size, at = _read_varint(data, at)
            yield field, wire, data[at : at + size]
            at += size
        elif wire == 5:
            yield field, wire, data[at : at + 4]
            at += 4
        elif wire == 1:
            yield field, wire, data[at : at + 8]
            at += 8
        else:
            raise ValueError(f"protobuf: unsupported wire type {wire}")


def _varints(data: bytes) -> list[int]:
    out, at = [], 0
    while at < len(data):
        value, at = _read_varint(data, at)
        out.append(value)
    return out


def _tensor(value: bytes) -> tuple[Any, list[int] | None, list[int]]:
    """(values, keys or None, shape) of a ``Value`` message's tensor."""
    np = numpy()
    for kind, _, tensor in _fields(value):
        values: list[Any] = []
        keys: list[int] = []
        shape: list[int] = []
        for field, wire, payload in _fields(tensor):
            if field == 1 and kind == _FLOAT32:
                values.extend(np.frombuffer(payload, dtype="<f4"))
            elif field == 1 and kind == _FLOAT64:
                values.extend(np.frombuffer(payload, dtype="<f8"))
            elif field == 1 and kind == _INT32:
                raw = _varints(payload) if wire == 2 else [payload]
                values.extend(v - (1 << 64) if v >= 1 << 63 else v for v in raw)
            elif field == 2:
                keys.extend(_varints(payload) if wire == 2 else [payload])
            elif field == 3:
                shape.extend(_varints(payload) if wire == 2 else [payload])
        dtype = {_FLOAT32: np.float32, _FLOAT64: np.float64}.get(kind, np.int32)
        return np.asarray(values, dtype=dtype), (keys or None), shape
    raise ValueError("protobuf: a Value without a tensor")


def _record(payload: bytes) -> tuple[Any, list[int] | None, list[int], Any]:
    features: tuple[Any, list[int] | None, list[int]] | None = None
    label = None
    for field, _, entry in _fields(payload):
        name, value = b"", b""
        for sub, _, content in _fields(entry):
            if sub == 1:
                name = content
            elif sub == 2:
                value = content
        if name != b"values":
            continue
        if field == 1:
            features = _tensor(value)
        elif field == 2:
            label = _tensor(value)[0]
    if features is None:
        raise ValueError("RecordIO-protobuf: a record without features['values']")
    return (*features, None if label is None or len(label) == 0 else label[0])


def iter_recordio(source: str | IO[bytes], *, chunk_rows: int = 65536) -> Iterator[tuple[Any, Any]]:
    """``(features, labels)`` chunks of at most ``chunk_rows`` rows from a RecordIO-protobuf
    file (path or open binary file): features a numpy matrix for dense records, a scipy CSR
    matrix for sparse ones; labels a vector, or None when the records carry none."""
    if isinstance(source, str):
        with open(source, "rb") as handle:
            yield from iter_recordio(handle, chunk_rows=chunk_rows)
        return
    batch: list[tuple[Any, list[int] | None, list[int], Any]] = []
    for payload in _frames(source):
        batch.append(_record(payload))
        if len(batch) >= chunk_rows:
            yield _assemble(batch)
            batch = []
    if batch:
        yield _assemble(batch)


def _assemble(batch: list[tuple[Any, list[int] | None, list[int], Any]]) -> tuple[Any, Any]:
    np = numpy()
    labels = [row[3] for row in batch]
    label_array = None if any(v is None for v in labels) else np.asarray(labels)
    if any(row[1] is not None or row[2] for row in batch):
        from scipy import sparse

        columns = max((row[2][0] if row[2] else 0) for row in batch)
        indptr = np.cumsum([0] + [len(row[0]) for row in batch])
        indices = np.concatenate([np.asarray(row[1] or [], dtype=np.int64) for row in batch])
        data = np.concatenate([row[0] for row in batch])
        matrix = sparse.csr_matrix((data, indices, indptr), shape=(len(batch), columns))
        return matrix, label_array
    return np.vstack([row[0] for row in batch]), label_array


def read_recordio(source: str | IO[bytes]) -> tuple[Any, Any]:
    """All of a RecordIO-protobuf file as ``(features, labels)`` (see ``iter_recordio``)."""
    np = numpy()
    chunks = list(iter_recordio(source))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32), None
    if is_sparse(chunks[0][0]):
        from scipy import sparse

        features = sparse.vstack([c[0] for c in chunks]).tocsr()
    else:
        features = np.vstack([c[0] for c in chunks])
    labels = None if chunks[0][1] is None else np.concatenate([c[1] for c in chunks])
    return features, labels
