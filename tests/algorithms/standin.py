"""The stand-in XGBoost algorithm image (``sagelift.algorithms.standin``), built offline and
tagged as the official ``sagemaker-xgboost:1.7-1`` URI of us-east-1.

Built like sagelift's base image: ``mmdebstrap`` bookworm (Python 3.11, which sagelift's own
modules need) from the host's Debian mirror, with numpy, scipy and ``xgboost-cpu`` wheels
downloaded on the host at the versions this interpreter has (so a local run and a rehearsal
train with the same XGBoost; the official 1.7-1 image has 1.7.6), installed offline; then the
sagelift package of this checkout and the ``train`` command on top. Cached: the root
filesystem under the sagelift cache; the top layer is rebuilt each session (a COPY), so the
image runs this checkout's runner.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import pytest

import sagelift
from sagelift.algorithms.standin import PACKAGE_DIR, TRAIN_SCRIPT, standin_containerfile
from sagelift.images.base import BaseImageSpec, default_cache_dir, ensure_base_image
from sagelift.images.builder import PodmanCLI

#: ``image_uris.retrieve("xgboost", "us-east-1", "1.7-1")``.
OFFICIAL_URI = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")
_BUILT: set[str] = set()


def _packages() -> tuple[str, ...]:
    return tuple(
        f"{dist}=={metadata.version(name)}"
        for dist, name in (("numpy", "numpy"), ("scipy", "scipy"), ("xgboost-cpu", "xgboost"))
    )


def _wheels(cache: Path, packages: tuple[str, ...]) -> tuple[Path, ...]:
    marker = cache / "complete.json"
    if marker.is_file():
        return tuple(cache / name for name in json.loads(marker.read_text()))
    shutil.rmtree(cache, ignore_errors=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "-q",
            "--disable-pip-version-check",
            "download",
            "-d",
            str(cache),
            "--only-binary=:all:",
            *platforms,
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            *packages,
        ],
        check=True,
    )
    names = sorted(p.name for p in cache.glob("*.whl"))
    marker.write_text(json.dumps(names))
    return tuple(cache / name for name in names)


def ensure_xgboost_standin(cli: PodmanCLI) -> str:
    """The stand-in image, tagged as the official URI; its top layer built once a session."""
    if OFFICIAL_URI in _BUILT and cli.image_exists(OFFICIAL_URI):
        return OFFICIAL_URI
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (run scripts/container-infra.sh install)")
    try:
        packages = _packages()
    except metadata.PackageNotFoundError as exc:
        pytest.skip(f"{exc} is not installed here")
    cache = default_cache_dir(os.environ)
    key = "-".join(p.replace("==", "-") for p in packages)
    wheels = _wheels(cache / f"standin-xgboost-wheels-{key}", packages)
    base = ensure_base_image(
        cli,
        BaseImageSpec(
            suite="bookworm", wheels=wheels, repository="localhost/sagelift-test/xgboost-base"
        ),
        cache_dir=cache,
    )
    with tempfile.TemporaryDirectory(prefix="sagelift-standin-") as tmp:
        context = Path(tmp)
        shutil.copytree(
            Path(sagelift.__file__).parent,
            context / PACKAGE_DIR,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        (context / "train").write_text(TRAIN_SCRIPT, encoding="utf-8")
        dockerfile = context / "Containerfile"
        dockerfile.write_text(
            standin_containerfile(
                base=base.ref, python_version=base.python_version, version="1.7-1"
            ),
            encoding="utf-8",
        )
        cli.build(context, dockerfile, OFFICIAL_URI)
    _BUILT.add(OFFICIAL_URI)
    return OFFICIAL_URI
