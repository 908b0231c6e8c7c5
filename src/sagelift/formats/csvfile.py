"""CSV as SageMaker's built-in algorithms read it (``text/csv``): the label in the first column,
no header row, numbers only, one row per line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from sagelift.formats.tables import Sink, as_dense_or_sparse, as_labels, is_sparse, numpy, open_sink

__all__ = ["iter_csv", "number_format", "read_csv", "write_csv"]


def number_format(dtype: Any) -> str:
    """A printf format that reads back to the same value: 9 significant digits for float32,
    17 for wider floats, integers as integers."""
    np = numpy()
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        return "%d"
    return "%.9g" if dtype == np.float32 else "%.17g"


def write_csv(sink: Sink, features: Any, labels: Any = None) -> int:
    """Append ``features`` (array, sparse matrix or DataFrame) to ``sink`` as CSV rows, each led
    by its label when ``labels`` is given. Returns the rows written."""
    np = numpy()
    matrix = as_dense_or_sparse(features)
    if is_sparse(matrix):
        matrix = matrix.toarray()
    label_array = as_labels(labels, matrix.shape[0])
    with open_sink(sink) as handle:
        for start in range(0, matrix.shape[0], 65536):
            block = matrix[start : start + 65536]
            fmt = [number_format(block.dtype)] * block.shape[1]
            if label_array is not None:
                part = label_array[start : start + 65536]
                block = np.column_stack([part.astype(np.float64), block.astype(np.float64)])
                fmt = [number_format(part.dtype), *fmt]
            text = "\n".join(
                ",".join(f % v for f, v in zip(fmt, row, strict=True)) for row in block
            )
            if text or block.shape[0]:
                handle.write(text.encode("ascii") + b"\n")
    return int(matrix.shape[0])


def iter_csv(
    source: str | IO[bytes], *, chunk_rows: int = 65536, labelled: bool = True
) -> Iterator[tuple[Any, Any]]:
    """``(features, labels)`` float64 chunks of a label-first CSV file (labels None when
    ``labelled`` is False). Raises ValueError naming the line of a non-numeric or ragged row."""
    if isinstance(source, str):
        with open(source, "rb") as handle:
            yield from iter_csv(handle, chunk_rows=chunk_rows, labelled=labelled)
        return
    np = numpy()
    rows: list[list[float]] = []
    width = None
    for number, raw in enumerate(source, start=1):
        line = raw.decode("utf-8").strip()
        if not line:
            continue
        try:
            row = [float(cell) if cell.strip() else float("nan") for cell in line.split(",")]
        except ValueError as exc:
            raise ValueError(f"line {number}: not numeric: {line[:60]!r}") from exc
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise ValueError(f"line {number}: {len(row)} columns, the first row has {width}")
        rows.append(row)
        if len(rows) >= chunk_rows:
            yield _split(np.asarray(rows), labelled)
            rows = []
    if rows:
        yield _split(np.asarray(rows), labelled)


def _split(block: Any, labelled: bool) -> tuple[Any, Any]:
    return (block[:, 1:], block[:, 0]) if labelled else (block, None)


def read_csv(source: str | IO[bytes], *, labelled: bool = True) -> tuple[Any, Any]:
    """All of a label-first CSV file as ``(features, labels)`` (see ``iter_csv``)."""
    np = numpy()
    chunks = list(iter_csv(source, labelled=labelled))
    if not chunks:
        return np.zeros((0, 0)), (np.zeros(0) if labelled else None)
    features = np.vstack([c[0] for c in chunks])
    return features, (np.concatenate([c[1] for c in chunks]) if labelled else None)
