"""Shipping code and data to S3: bytes on re-runs, and upload time against ``aws s3 sync``.

Everything goes to a moto S3 server on 127.0.0.1, started by the benchmark in its own process
(so neither variant shares an interpreter with the server). Three parts:

* re-submission: a small project (train.py + a data channel) is shipped with
  ``sagelift.uploads.ship_code`` + ``ship_channels``, then shipped again unchanged — target
  0 bytes uploaded and 0 images built (this path builds no image at all: the launcher runs in
  any image that has Python, so the count is structurally 0) — and once more after a one-line
  edit of train.py — target: about one compressed code tarball, no data — and once more after
  one data file changed — target: that file alone sent, the rest copied inside S3 into the new
  immutable snapshot.
* fresh upload: a directory of 10,000 small files (1–4 KiB) plus 3 × 50 MB files, uploaded by
  ``ship_channels`` and by ``aws s3 sync`` to an empty server (reset before every run).
  Target: sagelift ≥ 1.5× faster (median ratio ≤ 1/1.5).
* unchanged re-run: both variants again on the same directory, nothing changed. Same target.

    python benchmarks/upload.py [--repeat 3] [--small-files 10000] [--large-mb 50 --large 3]

Exit status: 0 every target met, 1 a target missed, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from _harness import (
    Comparison,
    Target,
    describe_machine,
    exit_code,
    fail,
    measure_pair,
    render_report,
    render_samples,
    render_table,
    run_command,
    write_json,
)

REPO = Path(__file__).resolve().parent.parent
BUCKET = "sagelift-bench"
SEED = 20240607
AWSCLI_VENV = Path.home() / ".cache" / "sagelift" / "bench-awscli"
SPEEDUP = 1.5
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/sagelift-bench/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/sagelift-bench/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in a child process on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    fail("the moto server did not start (pip install 'moto[server]')")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def reset_server(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def find_aws_cli() -> str:
    """``aws`` on PATH, else one installed into a side venv under ~/.cache."""
    found = shutil.which("aws")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
        return found
    aws = AWSCLI_VENV / "bin" / "aws"
    if not aws.exists():
        print(f"installing awscli into {AWSCLI_VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(AWSCLI_VENV)], check=True)
        subprocess.run([str(AWSCLI_VENV / "bin" / "pip"), "install", "-q", "awscli"], check=True)
    return str(aws)


def generate(root: Path, *, small: int, large: int, large_mb: int) -> tuple[int, int]:
    """Random-content files: ``small`` of 1–4 KiB in 100 dirs, ``large`` of ``large_mb`` MB."""
    rng = random.Random(SEED)
    total = 0
    for index in range(small):
        path = root / f"d{index % 100:02d}" / f"f{index:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.randint(1024, 4096))
        path.write_bytes(data)
        total += len(data)
    for index in range(large):
        data = os.urandom(large_mb * 1024 * 1024)
        (root / f"large-{index}.bin").write_bytes(data)
        total += len(data)
    return small + large, total


def make_spec(project: Path, channel: Path, base: str = "bench") -> object:
    from sagelift.spec import Channel, EntryPoint, JobSpec

    return JobSpec(
        project_dir=project,
        source_dir=project,
        entry_point=EntryPoint(kind="script", argv=("train.py",)),
        channels=(Channel(name="train", uri=str(channel)),),
        output_path=str(project / "out"),
        base_job_name=base,
    )


def resubmission(url: str, workdir: Path) -> tuple[list[list[str]], bool]:
    """Ship a small project three times; returns table rows and whether targets were met."""
    from sagelift.aws import AwsSettings, client
    from sagelift.storage import open_storage
    from sagelift.uploads import ship_channels, ship_code

    aws = AwsSettings(region="us-east-1", endpoint_url=url)
    reset_server(url)
    client("s3", aws).create_bucket(Bucket=BUCKET)
    storage = open_storage("s3", aws=aws)
    root = f"s3://{BUCKET}/sagelift"
    project = workdir / "project"
    data = project / "data" / "train"
    data.mkdir(parents=True)
    (project / "train.py").write_text("import os\nprint('training', os.environ['SM_MODEL_DIR'])\n")
    (project / "requirements.txt").write_text("scikit-learn\n")
    rng = random.Random(SEED)
    for index in range(200):
        (data / f"part-{index:03d}.csv").write_bytes(rng.randbytes(2048))
    spec = make_spec(project, data)

    def ship() -> tuple[int, int, str, int]:
        code = ship_code(spec, storage=storage, root_uri=root)  # type: ignore[arg-type]
        channels = ship_channels(spec, storage=storage, root_uri=root)  # type: ignore[arg-type]
        return (
            code.bytes_uploaded,
            sum(c.bytes_uploaded for c in channels),
            code.prefix_uri,
            sum(c.files_copied for c in channels),
        )

    first_code, first_data, _, _ = ship()
    again_code, again_data, _, again_copies = ship()
    with (project / "train.py").open("a") as handle:
        handle.write("print('one more line')\n")
    edit_code, edit_data, prefix, _ = ship()
    (data / "part-007.csv").write_bytes(rng.randbytes(2048))
    data_code, data_data, _, data_copies = ship()
    sizes = {info.relative: info.size for info in storage.list(prefix)}
    tarball = sizes.get("sourcedir.tar.gz", 0)
    bundle = sizes.get("sagelift_runtime.pyz", 0)
    # Shipping builds no image; image builds on re-submission are counted by
    # benchmarks/container.py (no-op run) and tests/sagemaker/test_deps_image.py.
    images_built = "n/a"
    rows = [
        ["first submission", f"{first_code:,}", f"{first_data:,}", "n/a", "(baseline)"],
        [
            "second, nothing changed",
            f"{again_code:,}",
            f"{again_data:,}",
            images_built,
            "0 B (images: see benchmarks/container.py)",
        ],
        [
            "after a one-line code edit",
            f"{edit_code:,}",
            f"{edit_data:,}",
            images_built,
            f"one tarball ({tarball:,} B), no data; the {bundle:,} B launcher bundle is "
            "copied inside S3",
        ],
        [
            "after a one-file data edit",
            f"{data_code:,}",
            f"{data_data:,}",
            images_built,
            f"that one file (2,048 B); the other {data_copies} files are copied inside S3 "
            "into the new snapshot",
        ],
    ]
    met = (
        again_code == 0
        and again_data == 0
        and again_copies == 0
        and edit_data == 0
        and edit_code == tarball
        and data_code == 0
        and data_data == 2048
        and data_copies == 199
    )
    return rows, met


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=3, help="number of large files")
    parser.add_argument("--large-mb", type=int, default=50, help="size of each large file")
    parser.add_argument("--workdir", type=Path, default=REPO / ".cache")
    parser.add_argument("--aws", help="the aws CLI to compare with (default: PATH or a side venv)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import moto  # noqa: F401

        from sagelift.uploads import ship_channels  # noqa: F401
    except ImportError as exc:
        fail(f"{exc}: run with the interpreter that has sagelift[dev] installed")
    aws_cli = args.aws or find_aws_cli()
    os.environ.update(FAKE_AWS)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    print(describe_machine())
    print(f"aws cli: {aws_cli}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="sagelift-bench-upload-", dir=args.workdir))
    try:
        with moto_server() as url:
            return run_benchmark(args, url, workdir, aws_cli)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, url: str, workdir: Path, aws_cli: str) -> int:
    from sagelift.aws import AwsSettings, client
    from sagelift.storage import open_storage
    from sagelift.uploads import ship_channels

    rows, resubmit_ok = resubmission(url, workdir)
    print("\nbytes uploaded (code, data) and images built:")
    print(render_table(["submission", "code B", "data B", "images", "target"], rows))
    print(f"re-submission targets: {'PASS' if resubmit_ok else 'MISS'}")

    channel = workdir / "channel"
    files, total = generate(
        channel, small=args.small_files, large=args.large, large_mb=args.large_mb
    )
    print(f"\nchannel: {files:,} files, {total / 1e6:.1f} MB under {channel}")
    aws = AwsSettings(region="us-east-1", endpoint_url=url)
    spec = make_spec(workdir / "project", channel, base="upload")
    env = {**os.environ}

    def empty_bucket() -> None:
        reset_server(url)
        client("s3", aws).create_bucket(Bucket=BUCKET)

    def baseline() -> None:
        run_command(
            [
                aws_cli,
                "--endpoint-url",
                url,
                "s3",
                "sync",
                str(channel),
                f"s3://{BUCKET}/awscli/train/",
                "--only-show-errors",
                "--no-progress",
            ],
            cwd=workdir,
            env=env,
        )

    def candidate() -> None:
        storage = open_storage("s3", aws=aws)
        (shipped,) = ship_channels(spec, storage=storage, root_uri=f"s3://{BUCKET}/sagelift")  # type: ignore[arg-type]
        if shipped.files_uploaded not in (0, files):
            raise SystemExit(f"sagelift sent {shipped.files_uploaded} of {files} files")

    target = Target(kind="ratio", limit=1 / SPEEDUP)
    labels = ("aws s3 sync", "ship_channels")
    fresh = Comparison(
        name=f"fresh upload {files:,} files / {total / 1e6:.0f} MB",
        target=target,
        **dict(
            zip(
                ("baseline", "candidate"),
                measure_pair(
                    baseline,
                    candidate,
                    repeat=args.repeat,
                    warmup=args.warmup,
                    labels=labels,
                    before=empty_bucket,
                ),
                strict=True,
            )
        ),
    )
    print(render_samples(fresh))
    empty_bucket()
    rerun = Comparison(
        name="unchanged re-run",
        target=target,
        **dict(
            zip(
                ("baseline", "candidate"),
                measure_pair(baseline, candidate, repeat=args.repeat, warmup=1, labels=labels),
                strict=True,
            )
        ),
    )
    print(render_samples(rerun))
    comparisons = [fresh, rerun]
    print()
    print(render_report(comparisons))
    for comparison in comparisons:
        print(f"{comparison.name}: sagelift {1 / comparison.ratio:.2f}× as fast as aws s3 sync")
    if args.json:
        write_json(args.json, comparisons, {"resubmission": rows, "resubmission_ok": resubmit_ok})
    code = exit_code(comparisons)
    return code if resubmit_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
