"""libsvm text (``text/libsvm``): ``label index:value ...`` per line, indices 1-based and
ascending, zeros left out (the format LIBSVM defines and SageMaker's XGBoost reads)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from sagelift.formats.csvfile import number_format
from sagelift.formats.tables import Sink, as_dense_or_sparse, as_labels, is_sparse, numpy, open_sink

__all__ = ["iter_libsvm", "read_libsvm", "write_libsvm"]


def write_libsvm(sink: Sink, features: Any, labels: Any = None) -> int:
    """Append ``features`` (array, sparse matrix or DataFrame) to ``sink`` as libsvm lines:
    column j is written as index j+1; zeros are left out. Rows without labels get label 0.
    Returns the rows written."""
    np = numpy()
    matrix = as_dense_or_sparse(features)
    if not is_sparse(matrix):
        from scipy import sparse

        matrix = sparse.csr_matrix(matrix)
        matrix.sort_indices()
    matrix.eliminate_zeros()
    rows = matrix.shape[0]
    label_array = as_labels(labels, rows)
    if label_array is None:
        label_array = np.zeros(rows, dtype=np.int64)
    value_format = number_format(matrix.dtype)
    label_format = number_format(label_array.dtype)
    with open_sink(sink) as handle:
        lines = []
        for i in range(rows):
            start, end = matrix.indptr[i], matrix.indptr[i + 1]
            cells = " ".join(
                f"{j + 1}:{value_format % v}"
                for j, v in zip(matrix.indices[start:end], matrix.data[start:end], strict=True)
            )
            label = label_format % label_array[i]
            lines.append(f"{label} {cells}" if cells else label)
            if len(lines) >= 65536:
                handle.write(("\n".join(lines) + "\n").encode("ascii"))
                lines = []
        if lines:
            handle.write(("\n".join(lines) + "\n").encode("ascii"))
    return int(rows)


def iter_libsvm(
    source: str | IO[bytes], *, chunk_rows: int = 65536, one_based: bool = True
) -> Iterator[tuple[Any, Any, int]]:
    """``(rows, labels, columns)`` chunks: CSR float64 rows with index k in column k-1
    (``one_based``) or column k (as XGBoost's own libsvm parser keeps them), and the widest
    column count seen so far. Raises ValueError naming the line of a malformed entry."""
    if isinstance(source, str):
        with open(source, "rb") as handle:
            yield from iter_libsvm(handle, chunk_rows=chunk_rows, one_based=one_based)
        return
    np = numpy()
    from scipy import sparse

    shift = 1 if one_based else 0
    labels: list[float] = []
    indices: list[int] = []
    data: list[float] = []
    indptr = [0]
    columns = 0
    for number, raw in enumerate(source, start=1):
        line = raw.decode("utf-8").split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            labels.append(float(parts[0]))
            for cell in parts[1:]:
                index, value = cell.split(":", 1)
                column = int(index) - shift
                if column < 0:
                    raise ValueError(f"index {index} below {shift}")
                indices.append(column)
                data.append(float(value))
                columns = max(columns, column + 1)
        except ValueError as exc:
            raise ValueError(f"line {number}: not libsvm ({exc}): {line[:60]!r}") from exc
        indptr.append(len(indices))
        if len(labels) >= chunk_rows:
            yield _chunk(sparse, np, data, indices, indptr, columns), np.asarray(labels), columns
            labels, indices, data, indptr = [], [], [], [0]
    if labels:
        yield _chunk(sparse, np, data, indices, indptr, columns), np.asarray(labels), columns


def _chunk(sparse: Any, np: Any, data: Any, indices: Any, indptr: Any, columns: int) -> Any:
    return sparse.csr_matrix(
        (np.asarray(data), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
        shape=(len(indptr) - 1, columns),
    )


def read_libsvm(
    source: str | IO[bytes], *, columns: int | None = None, one_based: bool = True
) -> tuple[Any, Any]:
    """All of a libsvm file as ``(csr_features, labels)``, at least ``columns`` wide."""
    np = numpy()
    from scipy import sparse

    chunks = list(iter_libsvm(source, one_based=one_based))
    width = max([columns or 0, *(c[2] for c in chunks)])
    if not chunks:
        return sparse.csr_matrix((0, width)), np.zeros(0)
    blocks = [
        sparse.csr_matrix((c[0].data, c[0].indices, c[0].indptr), shape=(c[0].shape[0], width))
        for c in chunks
    ]
    return sparse.vstack(blocks).tocsr(), np.concatenate([c[1] for c in chunks])
