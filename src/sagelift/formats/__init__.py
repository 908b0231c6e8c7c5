"""Data-format helpers: the files SageMaker's built-in algorithms read.

* CSV, label first, no header (``text/csv``): ``write_csv`` / ``read_csv`` / ``iter_csv``.
* libsvm, 1-based sorted indices (``text/libsvm``): ``write_libsvm`` / ``read_libsvm``.
* RecordIO-protobuf (``application/x-recordio-protobuf``), the format the first-party
  algorithms read: ``write_recordio`` / ``read_recordio`` / ``iter_recordio``.

Writers take numpy arrays, scipy sparse matrices or pandas frames (``split_frame`` takes the
label column out of a frame) and append to a path or an open binary file, so data larger than
memory is written chunk by chunk (``write_chunks``); readers yield chunks. numpy, scipy and
pandas are imported only when a helper needs them (extra ``formats``).

``validate_channel`` checks a channel's files against what an algorithm expects, before
anything is uploaded.
"""

from __future__ import annotations

from sagelift.formats.csvfile import iter_csv, read_csv, write_csv
from sagelift.formats.libsvm import iter_libsvm, read_libsvm, write_libsvm
from sagelift.formats.recordio import iter_recordio, read_recordio, write_recordio
from sagelift.formats.tables import split_frame, write_chunks
from sagelift.formats.validate import DataProblem, validate_channel, validate_file

__all__ = [
    "DataProblem",
    "iter_csv",
    "iter_libsvm",
    "iter_recordio",
    "read_csv",
    "read_libsvm",
    "read_recordio",
    "split_frame",
    "validate_channel",
    "validate_file",
    "write_chunks",
    "write_csv",
    "write_libsvm",
    "write_recordio",
]
