"""Differential: the helper's RecordIO-protobuf bytes equal the official SDK's writer's."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from sagelift import formats
from tests.formats.sdk import run_sdk

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

WRITE = """
import sys, numpy as np
from scipy import sparse
from sagemaker.amazon.common import write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor
data = np.load(sys.argv[1], allow_pickle=False)
labels = data["labels"] if "labels" in data else None
with open(sys.argv[2], "wb") as out:
    if "indptr" in data:
        matrix = sparse.csr_matrix((data["data"], data["indices"], data["indptr"]),
                                   shape=tuple(data["shape"]))
        write_spmatrix_to_sparse_tensor(out, matrix, labels)
    else:
        write_numpy_to_dense_tensor(out, data["features"], labels)
"""

RNG = np.random.default_rng(11)
CASES = {
    "float32": {
        "features": RNG.random((60, 7), dtype=np.float32),
        "labels": RNG.random(60, dtype=np.float32),
    },
    "float64": {"features": RNG.random((20, 3)), "labels": RNG.random(20)},
    "no-labels": {"features": RNG.random((20, 3), dtype=np.float32)},
    "int": {"features": RNG.integers(-5, 5, (10, 4)), "labels": RNG.integers(0, 3, 10)},
    "float-int-label": {
        "features": RNG.random((10, 4), dtype=np.float32),
        "labels": RNG.integers(0, 3, 10),
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dense_bytes_match_the_sdk(tmp_path: Path, case: str) -> None:
    arrays = CASES[case]
    np.savez(tmp_path / "in.npz", **arrays)
    run_sdk(WRITE, str(tmp_path / "in.npz"), str(tmp_path / "sdk.rec"))
    ours = io.BytesIO()
    formats.write_recordio(ours, arrays["features"], arrays.get("labels"))
    assert ours.getvalue() == (tmp_path / "sdk.rec").read_bytes()


def test_sparse_bytes_match_the_sdk(tmp_path: Path) -> None:
    matrix = sparse.random(40, 9, density=0.3, format="csr", dtype=np.float32, random_state=2)
    labels = RNG.random(40, dtype=np.float32)
    np.savez(
        tmp_path / "in.npz",
        data=matrix.data,
        indices=matrix.indices,
        indptr=matrix.indptr,
        shape=np.array(matrix.shape),
        labels=labels,
    )
    run_sdk(WRITE, str(tmp_path / "in.npz"), str(tmp_path / "sdk.rec"))
    ours = io.BytesIO()
    formats.write_recordio(ours, matrix, labels)
    assert ours.getvalue() == (tmp_path / "sdk.rec").read_bytes()
