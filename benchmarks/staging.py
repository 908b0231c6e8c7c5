"""Staging time of a large channel against a plain ``shutil.copytree`` of the same tree.

Generates a channel of 10,000 files, 1 GB in all (9,990 small files of 1–4 KiB in 100
directories plus 10 large files sharing the rest, about 100 MB each), in a temporary directory
on the file system of ``--workdir`` (default: the repository's ``.cache/``, i.e. the file system
of the checkout). Then, interleaved, ``--repeat`` times each:

* baseline: ``shutil.copytree(src, dest)``
* sagelift: ``sagelift.backends.opt_ml.stage_channel(src, dest)``

Every run starts with no destination and after ``os.sync()``; the source stays in the page
cache, as it would for a channel staged again. Target: staging no slower than the plain copy
(``--target-ratio``, default 1.0). Afterwards the channel is staged once more, untimed, and
read back: it must equal the source byte for byte and share no inode with it (a private copy).

    python benchmarks/staging.py [--repeat 5] [--size-gb 1] [--files 10000] [--only-baseline]

Exit status: 0 target met and read-back identical, 1 otherwise, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from _harness import (
    Comparison,
    Target,
    describe_machine,
    exit_code,
    fail,
    format_seconds,
    measure,
    measure_pair,
    render_report,
    render_samples,
    write_json,
)

REPO = Path(__file__).resolve().parent.parent
SMALL_MIN = 1024
SMALL_MAX = 4096
SMALL_DIRS = 100
LARGE_FILES = 10
CHUNK = 8 * 1024 * 1024
SEED = 20240601


@dataclass(frozen=True, slots=True, kw_only=True)
class Tree:
    root: Path
    files: int
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadBack:
    """Result of comparing a copy with its source; ``problems`` is empty when identical."""

    files: int
    bytes: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def generate(root: Path, *, total_bytes: int, files: int, large: int) -> Tree:
    """Write the channel: ``files - large`` small files, then ``large`` files sharing the rest.

    Contents are random so that no file system can compress or deduplicate them.
    """
    rng = random.Random(SEED)
    small = files - large
    written = 0
    for index in range(small):
        directory = root / f"shard-{index % SMALL_DIRS:03d}"
        directory.mkdir(parents=True, exist_ok=True)
        size = rng.randint(SMALL_MIN, SMALL_MAX)
        (directory / f"sample-{index:05d}.bin").write_bytes(os.urandom(size))
        written += size
    remaining = max(0, total_bytes - written)
    large_dir = root / "large"
    large_dir.mkdir(parents=True, exist_ok=True)
    for index in range(large):
        size = remaining // large + (1 if index < remaining % large else 0)
        with (large_dir / f"part-{index:02d}.bin").open("wb") as f:
            left = size
            while left > 0:
                block = os.urandom(min(CHUNK, left))
                f.write(block)
                left -= len(block)
        written += size
    return Tree(root=root, files=files, bytes=written)


def files_under(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield (Path(dirpath) / name).relative_to(root)


def same_bytes(a: Path, b: Path) -> bool:
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            block_a = fa.read(CHUNK)
            if block_a != fb.read(CHUNK):
                return False
            if not block_a:
                return True


def read_back(source: Path, copy: Path) -> ReadBack:
    """Compare ``copy`` with ``source``: same file names, same bytes, no shared inode."""
    problems: list[str] = []
    src_files = list(files_under(source))
    copy_files = set(files_under(copy))
    missing = [p for p in src_files if p not in copy_files]
    extra = sorted(copy_files.difference(src_files))
    problems += [f"missing: {p}" for p in missing[:5]]
    problems += [f"unexpected: {p}" for p in extra[:5]]
    total = 0
    for rel in src_files:
        if rel not in copy_files:
            continue
        a, b = source / rel, copy / rel
        sa, sb = a.stat(), b.stat()
        total += sb.st_size
        if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
            problems.append(f"shares an inode with the source: {rel}")
        elif sa.st_size != sb.st_size or not same_bytes(a, b):
            problems.append(f"content differs: {rel}")
        if len(problems) >= 20:
            break
    return ReadBack(files=len(copy_files), bytes=total, problems=tuple(problems))


def load_stage_channel() -> Callable[[Path, Path], object]:
    try:
        from sagelift.backends.opt_ml import stage_channel
    except ImportError as exc:
        fail(
            f"cannot import sagelift.backends.opt_ml.stage_channel ({exc}); install sagelift "
            "into this interpreter (pip install -e .) or measure the copy alone with "
            "--only-baseline"
        )
    return stage_channel


OVERLAY_PROBE = """
import os, sys
from pathlib import Path
from sagelift.runtime.mounts import prepare_view
root, source = Path(sys.argv[1]), Path(sys.argv[2])
prepare_view(root, "off", overlays={"train": source})
channel = root / "input" / "data" / "train"
files = sum(len(names) for _, _, names in os.walk(channel))
print(files, os.path.ismount(channel))
"""


def measure_overlay(source: Path, job_root: Path, args: argparse.Namespace) -> Comparison | None:
    """The launcher's copy-on-write channel view: a private mount namespace with an overlay of
    the channel, every file's metadata walked once, against a plain copy (measured afresh)."""
    copied = job_root.parent / "copytree-2"

    def baseline() -> None:
        shutil.copytree(source, copied)

    def candidate() -> None:
        out = subprocess.run(
            [sys.executable, "-c", OVERLAY_PROBE, str(job_root), str(source)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        views.append((int(out[0]), out[1] == "True"))

    def reset() -> None:
        remove(copied, job_root)
        os.sync()

    views: list[tuple[int, bool]] = []
    try:
        base, cand = measure_pair(
            baseline,
            candidate,
            repeat=args.repeat,
            warmup=args.warmup,
            labels=("shutil.copytree", "overlay view"),
            before=reset,
        )
    except subprocess.CalledProcessError as exc:
        print(f"overlay view not measured: {exc.stderr.strip().splitlines()[-1:]}")
        return None
    finally:
        reset()
    files, mounted = views[-1]
    print(f"overlay view: {files:,} files visible, mounted as an overlay: {mounted}")
    comparison = Comparison(
        name="channel view (overlay)" if mounted else "channel view (copy fallback)",
        baseline=base,
        candidate=cand,
        target=Target(kind="ratio", limit=args.target_ratio),
    )
    print(render_samples(comparison))
    return comparison


def remove(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            shutil.rmtree(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--size-gb", type=float, default=1.0, help="channel size in GB (1e9)")
    parser.add_argument("--files", type=int, default=10_000, help="number of files")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO / ".cache",
        help="where the temporary data goes; its file system is the one measured "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--target-ratio",
        type=float,
        default=1.0,
        help="staging time / copytree time must not exceed this (default: %(default)s)",
    )
    parser.add_argument("--only-baseline", action="store_true", help="time shutil.copytree alone")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be ≥ 1 and --warmup ≥ 0")
    if args.files <= LARGE_FILES:
        parser.error(f"--files must be more than {LARGE_FILES}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stage_channel = None if args.only_baseline else load_stage_channel()
    total = int(args.size_gb * 1e9)
    args.workdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.workdir).free
    if free < 2.2 * total:
        fail(
            f"{args.workdir} has {free / 1e9:.1f} GB free; the benchmark needs about "
            f"{2.2 * total / 1e9:.1f} GB: free space, pick another --workdir or lower --size-gb"
        )

    print(describe_machine())
    root = Path(tempfile.mkdtemp(prefix="sagelift-bench-staging-", dir=args.workdir))
    try:
        return run_benchmark(args, root, total, stage_channel)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_benchmark(
    args: argparse.Namespace,
    root: Path,
    total: int,
    stage_channel: Callable[[Path, Path], object] | None,
) -> int:
    tree = generate(root / "src", total_bytes=total, files=args.files, large=LARGE_FILES)
    os.sync()
    print(
        f"channel: {tree.files:,} files, {tree.bytes / 1e9:.2f} GB under {root} "
        f"(file system of {args.workdir})"
    )
    copied, staged = root / "copytree", root / "staged"

    def baseline() -> None:
        shutil.copytree(tree.root, copied)

    def reset() -> None:
        remove(copied, staged)
        os.sync()

    if stage_channel is None:
        only = measure(
            baseline,
            label="shutil.copytree",
            repeat=args.repeat,
            warmup=args.warmup,
            before=reset,
        )
        runs = ", ".join(f"{s:.3f}" for s in only.seconds)
        print(
            f"shutil.copytree: median {format_seconds(only.median)} "
            f"({tree.bytes / 1e9 / only.median:.2f} GB/s), runs [{runs}]"
        )
        print("sagelift staging not measured (--only-baseline)")
        return 0

    reports: list[object] = []

    def candidate() -> None:
        reports.append(stage_channel(tree.root, staged))

    base, cand = measure_pair(
        baseline,
        candidate,
        repeat=args.repeat,
        warmup=args.warmup,
        labels=("shutil.copytree", "stage_channel"),
        before=reset,
    )
    comparison = Comparison(
        name=f"stage {tree.files:,} files / {tree.bytes / 1e9:.2f} GB",
        baseline=base,
        candidate=cand,
        target=Target(kind="ratio", limit=args.target_ratio),
    )
    print(render_samples(comparison))
    print(
        f"  throughput: copytree {tree.bytes / 1e9 / base.median:.2f} GB/s, "
        f"stage_channel {tree.bytes / 1e9 / cand.median:.2f} GB/s"
    )
    if reports:
        print(f"  last stage report: {reports[-1]}")

    overlay = measure_overlay(tree.root, root / "job", args)
    comparisons = [comparison] if overlay is None else [comparison, overlay]

    reset()
    stage_channel(tree.root, staged)
    check = read_back(tree.root, staged)
    if check.ok:
        print(
            f"read-back: {check.files:,} files, {check.bytes / 1e9:.2f} GB identical to the "
            "source; no inode shared with it"
        )
    else:
        print("read-back: FAILED")
        for problem in check.problems:
            print(f"  {problem}")
    print()
    print(render_report(comparisons))
    if args.json:
        write_json(
            args.json,
            comparisons,
            {
                "benchmark": "staging",
                "files": tree.files,
                "bytes": tree.bytes,
                "read_back_ok": check.ok,
                "read_back_problems": list(check.problems),
            },
        )
    return exit_code([comparison]) if check.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
