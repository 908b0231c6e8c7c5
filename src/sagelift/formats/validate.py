"""Checks a channel's files against the format an algorithm expects, before upload.

Rules (SageMaker's built-in algorithm docs): CSV has no header row, the label first and numbers
only; libsvm indices start at 1 and ascend within a row; RecordIO-protobuf files start with the
RecordIO magic word and hold ``aialgs.data.Record`` messages. Files whose names start with ``.``
or ``_`` are skipped, as the XGBoost container skips them. Only the first ``sample_lines`` lines
(records) of each file are read, so a check costs the same for any data size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FORMATS", "DataProblem", "data_files", "format_of", "validate_channel", "validate_file"]

#: Content type (lower case, parameters dropped) -> format name.
FORMATS: dict[str, str] = {
    "text/csv": "csv",
    "csv": "csv",
    "text/libsvm": "libsvm",
    "text/x-libsvm": "libsvm",
    "libsvm": "libsvm",
    "application/x-recordio-protobuf": "recordio-protobuf",
    "recordio-protobuf": "recordio-protobuf",
    "application/x-parquet": "parquet",
    "parquet": "parquet",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DataProblem:
    """Why a file does not fit its format: ``where`` is ``path:line``, ``fix`` the remedy."""

    where: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def format_of(content_type: str) -> str | None:
    """The format name of a content type (``text/csv; label_size=1`` -> ``csv``), or None."""
    return FORMATS.get(content_type.split(";", 1)[0].strip().lower())


def data_files(path: Path) -> list[Path]:
    """The data files of a channel: the file itself, or the files under the directory (sorted),
    skipping names that start with ``.`` or ``_``."""
    if path.is_file():
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [Path(root) / f for f in sorted(files) if not f.startswith((".", "_"))]
    return found


def validate_channel(
    path: Path, content_type: str, *, sample_lines: int = 1000
) -> DataProblem | None:
    """The first problem in the channel's files for ``content_type``, or None."""
    for file in data_files(path):
        problem = validate_file(file, content_type, sample_lines=sample_lines)
        if problem is not None:
            return problem
    return None


def validate_file(path: Path, content_type: str, *, sample_lines: int = 1000) -> DataProblem | None:
    """The first problem in one file for ``content_type``, or None (unknown formats pass)."""
    kind = format_of(content_type)
    if kind == "csv":
        return _csv(path, sample_lines)
    if kind == "libsvm":
        return _libsvm(path, sample_lines)
    if kind == "recordio-protobuf":
        return _recordio(path, sample_lines)
    return None


def _lines(path: Path, limit: int) -> list[tuple[int, str]]:
    out = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number > limit:
                break
            out.append((number, raw.decode("utf-8", errors="replace").strip()))
    return out


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv(path: Path, limit: int) -> DataProblem | None:
    width = None
    for number, line in _lines(path, limit):
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        bad = [c for c in cells if c and not _number(c)]
        if bad and number == 1:
            return DataProblem(
                where=f"{path}:1",
                problem=f"looks like a header row ({line[:60]!r}); the algorithm reads every "
                "row as data",
                fix="write the CSV without a header (sagelift.formats.write_csv, or "
                "pandas to_csv(header=False, index=False))",
            )
        if bad:
            return DataProblem(
                where=f"{path}:{number}",
                problem=f"non-numeric value {bad[0][:30]!r}",
                fix="encode categories as numbers before writing the CSV",
            )
        if not cells[0]:
            return DataProblem(
                where=f"{path}:{number}",
                problem="the first column (the label) is empty",
                fix="put the label in the first column of every row",
            )
        if width is None:
            width = len(cells)
        elif len(cells) != width:
            return DataProblem(
                where=f"{path}:{number}",
                problem=f"{len(cells)} columns, the first row has {width}",
                fix="give every row the same columns, label first",
            )
    return None


def _libsvm(path: Path, limit: int) -> DataProblem | None:
    for number, line in _lines(path, limit):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{path}:{number}"
        if not _number(parts[0].split(":", 1)[0]):
            return DataProblem(
                where=where,
                problem=f"the label {parts[0][:30]!r} is not a number",
                fix="start each line with the numeric label: 'label index:value ...'",
            )
        previous = 0
        for cell in parts[1:]:
            index, _, value = cell.partition(":")
            if not index.isdigit() or not _number(value):
                return DataProblem(
                    where=where,
                    problem=f"{cell[:30]!r} is not index:value",
                    fix="write features as index:value with integer indices",
                )
            if int(index) == 0:
                return DataProblem(
                    where=where,
                    problem="feature index 0: libsvm indices are 1-based",
                    fix="add 1 to every index (sagelift.formats.write_libsvm writes column j "
                    "as j+1)",
                )
            if int(index) <= previous:
                return DataProblem(
                    where=where,
                    problem=f"index {index} after {previous}: indices must ascend in a row",
                    fix="sort each row's features by index",
                )
            previous = int(index)
    return None


def _recordio(path: Path, limit: int) -> DataProblem | None:
    from sagelift.formats.recordio import iter_recordio

    try:
        with open(path, "rb") as handle:
            for _ in iter_recordio(handle, chunk_rows=limit):
                break
    except (ValueError, IndexError) as exc:
        return DataProblem(
            where=str(path),
            problem=f"not RecordIO-protobuf ({exc})",
            fix="write it with sagelift.formats.write_recordio (or the SageMaker SDK's "
            "write_numpy_to_dense_tensor)",
        )
    return None
