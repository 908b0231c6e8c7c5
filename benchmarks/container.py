"""Cost of ``sagelift run --backend container`` against a bare ``podman run`` of the same image.

A throw-away project (a trivial ``train.py`` and a ``sagelift.toml``) is made, and its deps
image built once, untimed, with ``sagelift image build``. Then, interleaved:

* ``start overhead``: ``podman run --rm`` of that image running ``python3 train.py`` (the
  project mounted read-only) against ``sagelift run --backend container`` with ``image.uri``
  naming the same image. Target: at most 1 s more.
* ``no-op run``: the same bare ``podman run`` against ``sagelift run --backend container`` in
  the default ``deps`` mode, where sagelift works out the image's content tag, finds it and
  builds nothing. Target: at most 1 s more. A check run afterwards must show the build
  skipped and the local store unchanged; no registry is configured, so nothing can be pushed.

    python benchmarks/container.py [--repeat 5] [--image BASE] [--json out.json]

Needs podman (``scripts/container-infra.sh install``; ``eval "$(scripts/container-infra.sh
env)"``). Exit status: 0 all targets met, 1 a target missed, 2 the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from _harness import (
    BenchmarkError,
    Comparison,
    Target,
    clean_environment,
    describe_machine,
    exit_code,
    fail,
    measure_pair,
    precompile_sagelift,
    render_report,
    render_samples,
    run_command,
    write_json,
)

SAGELIFT: tuple[str, ...] = (sys.executable, "-m", "sagelift")
DONE = "sagelift-benchmark: done"
TARGET = Target(kind="diff", limit=1.0)

SCRIPT = f"""\
import os

model_dir = os.environ.get("SM_MODEL_DIR", "/tmp/model")
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(model_dir, "model.txt"), "w") as f:
    f.write("trivial\\n")
print("{DONE}")
"""


def toml_string(value: str) -> str:
    return json.dumps(value)


def make_project(root: Path, name: str, *, base: str, uri: str | None) -> Path:
    project = root / name
    project.mkdir()
    (project / "train.py").write_text(SCRIPT, encoding="utf-8")
    lines = [
        'entry_point = "train.py"',
        'backend = "container"',
        "",
        "[aws]",
        f"ecr_repository = {toml_string('sagelift-bench/container')}",
        "",
        "[image]",
        'container_cli = "podman"',
        f"base = {toml_string(base)}",
    ]
    if uri is not None:
        lines.append(f"uri = {toml_string(uri)}")
    (project / "sagelift.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return project


def capture(argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> tuple[str, str]:
    """Run ``argv``; its stdout and stderr, or BenchmarkError when it fails."""
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        raise BenchmarkError(f"{' '.join(argv)} exited with {result.returncode}:\n{result.stderr}")
    return result.stdout, result.stderr


def local_images(env: dict[str, str]) -> list[str]:
    listing, _ = capture(
        ["podman", "images", "--all", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"],
        cwd=Path.cwd(),
        env=env,
    )
    return sorted(listing.splitlines())


def base_image(explicit: str | None) -> str:
    """``explicit``, else sagelift's offline CPU base (built once and cached)."""
    if explicit:
        return explicit
    from sagelift.images.base import default_cache_dir, ensure_base_image
    from sagelift.images.service import container_cli_for
    from sagelift.settings import ImageSettings

    cli = container_cli_for(ImageSettings(container_cli="podman"))
    return ensure_base_image(cli, cache_dir=default_cache_dir(os.environ)).ref


def check_no_build(project: Path, env: dict[str, str]) -> None:
    """One untimed no-op run: the build is skipped and the local store is left as it was."""
    before = local_images(env)
    output = "".join(capture([*SAGELIFT, "run"], cwd=project, env=env))
    after = local_images(env)
    if DONE not in output or "build skipped" not in output or "building" in output:
        raise BenchmarkError(f"the no-op run did not skip the build:\n{output[-2000:]}")
    if before != after:
        raise BenchmarkError(f"the no-op run changed the local images: {set(after) ^ set(before)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--image", help="base image with python3 (default: sagelift's base)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be ≥ 1 and --warmup ≥ 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("podman") is None:
        fail("podman is not installed (scripts/container-infra.sh install)")
    print(describe_machine())
    print(f"runs per variant: {args.repeat} timed after {args.warmup} untimed")
    root = Path(tempfile.mkdtemp(prefix="sagelift-bench-container-"))
    comparisons: list[Comparison] = []
    built = ""
    try:
        env = clean_environment(root / "config")
        precompile_sagelift()
        base = base_image(args.image)
        deps_project = make_project(root, "deps", base=base, uri=None)
        built = capture([*SAGELIFT, "image", "build"], cwd=deps_project, env=env)[0].strip()
        uri_project = make_project(root, "uri", base=base, uri=built)
        print(f"image: {built} (on {base})")

        bare = [
            "podman",
            "run",
            "--rm",
            "--network",
            "host",
            "-v",
            f"{deps_project}:/opt/ml/code:ro",
            "-w",
            "/opt/ml/code",
            "--entrypoint",
            "python3",
            built,
            "train.py",
        ]

        def runner(argv: Sequence[str], cwd: Path) -> Callable[[], None]:
            return lambda: run_command(argv, cwd=cwd, env=env, expect=DONE)

        cases = (
            ("start overhead (image.uri)", uri_project),
            ("no-op run (deps image exists)", deps_project),
        )
        for name, project in cases:
            baseline, candidate = measure_pair(
                runner(bare, project),
                runner([*SAGELIFT, "run"], project),
                repeat=args.repeat,
                warmup=args.warmup,
                labels=("podman run", "sagelift run --backend container"),
            )
            comparison = Comparison(
                name=name, baseline=baseline, candidate=candidate, target=TARGET
            )
            print(f"{name}:")
            print(render_samples(comparison))
            comparisons.append(comparison)
        check_no_build(deps_project, env)
        print("no-op check: build skipped, local images unchanged, nothing pushed")
    except BenchmarkError as exc:
        fail(str(exc))
    finally:
        if args.keep:
            print(f"projects kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(render_report(comparisons))
    if args.json:
        write_json(args.json, comparisons, {"benchmark": "container", "image": built})
    return exit_code(comparisons)


if __name__ == "__main__":
    raise SystemExit(main())
