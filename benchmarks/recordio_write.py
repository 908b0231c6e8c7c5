"""RecordIO-protobuf write throughput: ``sagelift.formats.write_recordio`` against the official
SageMaker SDK v2 writer (``sagemaker.amazon.common.write_numpy_to_dense_tensor``).

Both write the same 1,000,000 x 50 float32 rows with float32 labels to a file on the same disk;
each run is timed around the write call only (the SDK's in its own interpreter, a side venv:
``SAGELIFT_SDK_PYTHON``, or the one ``tests/formats/sdk.py`` builds). The outputs are checked
byte-equal. Target: sagelift at least as fast (SDK seconds / sagelift seconds >= 1).

Without the SDK, the baseline is stated instead: ``numpy.ndarray.tofile`` of the raw feature
bytes, the I/O floor for this data (a ratio near 1 means the encoder costs little beyond I/O).

    python benchmarks/recordio_write.py [--rows 1000000] [--columns 50] [--repeat 3]

Exit status: 0 target met, 1 target missed, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from sagelift.formats import write_recordio  # noqa: E402

SDK_WRITE = """
import sys, time, numpy as np
from sagemaker.amazon.common import write_numpy_to_dense_tensor
features, labels = np.load(sys.argv[1]), np.load(sys.argv[2])
with open(sys.argv[3], "wb") as out:
    start = time.perf_counter()
    write_numpy_to_dense_tensor(out, features, labels)
    out.flush()
    print(time.perf_counter() - start)
"""


def _sdk_python() -> str | None:
    given = os.environ.get("SAGELIFT_SDK_PYTHON")
    if given:
        return given
    try:
        from tests.formats.sdk import sdk_python

        return str(sdk_python())
    except BaseException:  # pytest.skip raises outside pytest too
        return None


def _ours(features: np.ndarray, labels: np.ndarray, path: Path) -> float:
    with open(path, "wb") as out:
        start = time.perf_counter()
        write_recordio(out, features, labels)
        out.flush()
        return time.perf_counter() - start


def _sdk(python: str, inputs: tuple[Path, Path], path: Path) -> float:
    env = {**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [python, "-c", SDK_WRITE, str(inputs[0]), str(inputs[1]), str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _raw(features: np.ndarray, path: Path) -> float:
    start = time.perf_counter()
    features.tofile(path)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    features = rng.random((args.rows, args.columns), dtype=np.float32)
    labels = rng.random(args.rows, dtype=np.float32)
    python = _sdk_python()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = (work / "features.npy", work / "labels.npy")
        np.save(inputs[0], features)
        np.save(inputs[1], labels)
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(_ours(features, labels, work / "ours.rec"))
            if python is not None:
                theirs.append(_sdk(python, inputs, work / "sdk.rec"))
            else:
                theirs.append(_raw(features, work / "raw.bin"))
            sdk_file = work / "sdk.rec"
            if sdk_file.exists() and not filecmp.cmp(work / "ours.rec", sdk_file, shallow=False):
                print("sagelift and SDK outputs differ", file=sys.stderr)
                return 2
        size = (work / "ours.rec").stat().st_size
    mine, base = statistics.median(ours), statistics.median(theirs)
    baseline = "SageMaker SDK v2 writer" if python else "numpy tofile of the raw features"
    ratio = base / mine
    print(
        f"rows {args.rows} x {args.columns} float32, {size / 1e6:.0f} MB written, "
        f"median of {args.repeat}"
    )
    print(f"sagelift write_recordio: {mine:.2f} s ({args.rows / mine:,.0f} rows/s)")
    print(f"{baseline}: {base:.2f} s ({args.rows / base:,.0f} rows/s)")
    target_met = ratio >= 1.0 if python else True
    print(
        f"ratio (baseline / sagelift): {ratio:.1f}x  target >= 1x against the SDK: "
        + ("PASS" if target_met else "MISS")
        + ("" if python else " (SDK unavailable)")
    )
    return 0 if target_met else 1


if __name__ == "__main__":
    sys.exit(main())
