"""Turning what a user holds (numpy arrays, scipy sparse matrices, pandas frames) into the
arrays the writers encode, and opening the file a writer appends to.

numpy, scipy and pandas are imported lazily; a missing one raises MissingDependency naming the
``formats`` extra.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from sagelift.errors import MissingDependency

__all__ = [
    "Sink",
    "as_dense_or_sparse",
    "as_labels",
    "is_sparse",
    "numpy",
    "open_sink",
    "split_frame",
    "write_chunks",
]

#: A path to append to, or an open binary file.
Sink = str | os.PathLike[str] | IO[bytes]


def numpy() -> Any:
    """The numpy module, or MissingDependency naming the extra."""
    try:
        import numpy as np
    except ImportError as exc:  # pragma: no cover - numpy is in the dev environment
        raise MissingDependency(
            "the data-format helpers need numpy", hint="pip install 'sagelift[formats]'"
        ) from exc
    return np


def is_sparse(data: Any) -> bool:
    """Whether ``data`` is a scipy sparse matrix or array (scipy imported only if it is loaded)."""
    module = type(data).__module__
    if not module.startswith("scipy"):
        return False
    from scipy import sparse

    return bool(sparse.issparse(data))


def as_dense_or_sparse(data: Any) -> Any:
    """A 2-D numpy array or a scipy CSR matrix from an array, sparse matrix or DataFrame.

    Raises ValueError for anything not two-dimensional.
    """
    if is_sparse(data):
        csr = data.tocsr()
        csr.sort_indices()
        return csr
    np = numpy()
    if hasattr(data, "to_numpy"):
        data = data.to_numpy()
    array = np.asarray(data)
    if array.ndim != 2:
        raise ValueError(f"features must be a matrix (2-D), got {array.ndim}-D")
    return array


def as_labels(labels: Any, rows: int) -> Any:
    """A 1-D numpy array of ``rows`` labels, or None. Raises ValueError on a length mismatch."""
    if labels is None:
        return None
    np = numpy()
    if hasattr(labels, "to_numpy"):
        labels = labels.to_numpy()
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != rows:
        raise ValueError(f"labels must be a vector of {rows} values, got shape {array.shape}")
    return array


def split_frame(frame: Any, label: str) -> tuple[Any, Any]:
    """``(features, labels)`` from a pandas DataFrame and the name of its label column."""
    if label not in frame.columns:
        raise ValueError(f"no column {label!r} in the frame")
    return frame.drop(columns=[label]), frame[label]


@contextlib.contextmanager
def open_sink(sink: Sink) -> Iterator[IO[bytes]]:
    """An open binary file: ``sink`` itself, or the path opened for appending (so successive
    chunks land in one file)."""
    if isinstance(sink, (str, os.PathLike)):
        with open(sink, "ab") as handle:
            yield handle
    else:
        yield sink


def write_chunks(writer: Callable[..., int], sink: Sink, chunks: Iterable[tuple[Any, Any]]) -> int:
    """Write ``(features, labels)`` chunks one after the other with ``writer`` (``write_csv``,
    ``write_libsvm`` or ``write_recordio``); only one chunk is in memory at a time. Returns the
    number of rows written."""
    rows = 0
    with open_sink(sink) as handle:
        for features, labels in chunks:
            rows += writer(handle, features, labels)
    return rows
