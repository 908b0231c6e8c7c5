"""A stand-in for the official SageMaker scikit-learn 1.2-1 training image, built offline.

No AWS registry is reachable here, so the tests build an image with the official one's facts
(``aws/sagemaker-scikit-learn-container``, ``docker/1.2-1``): Python 3.9, scikit-learn 1.2.1,
the real ``sagemaker-training`` toolkit from the package index, no ENTRYPOINT (SageMaker runs
``IMAGE train``: the toolkit's console script), ``SAGEMAKER_TRAINING_MODULE =
sagemaker_sklearn_container.training:main`` and the official image's Python ENV. What differs:
Debian 11's python3 (3.9.2) instead of Miniconda's 3.9 on Ubuntu 20.04; no MLIO, nginx, Java
or model server (serving only); ``sagemaker_sklearn_container.training`` is a small module
written here that hands the job to the toolkit as the official one does.

Built like sagelift's base image: ``mmdebstrap`` bullseye from the host's Debian mirror, every
wheel downloaded on the host for cp39 (the toolkit, which has only an sdist with a C
extension, is built into a wheel with a host Python 3.9) and installed offline. Cached: the
root filesystem under the sagelift cache, the image by its tag.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from sagelift.images.base import BaseImageSpec, default_cache_dir, ensure_base_image
from sagelift.images.builder import PodmanCLI

#: The image the request names for image.framework = "sklearn" (1.2-1) in us-east-1.
OFFICIAL_URI = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TOOLKIT = "sagemaker-training==5.1.4"
PACKAGES = (TOOLKIT, "scikit-learn==1.2.1", "numpy<2")
PLATFORMS = (
    "manylinux2014_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)
TRAINING_MODULE = '''\
"""Stand-in for sagemaker_sklearn_container.training: hand the job to the toolkit."""
from sagemaker_training import entry_point, environment, runner


def main():
    env = environment.Environment()
    entry_point.run(
        uri=env.module_dir,
        user_entry_point=env.user_entry_point,
        args=env.to_cmd_args(),
        env_vars=env.to_env_vars(),
        runner_type=runner.ProcessRunnerType,
    )
'''
CONTAINERFILE = """\
FROM {base}
COPY sagemaker_sklearn_container /usr/local/lib/python3.9/dist-packages/sagemaker_sklearn_container
ENV SAGEMAKER_SKLEARN_VERSION=1.2-1
ENV PIP_ROOT_USER_ACTION=ignore
ENV PYTHONDONTWRITEBYTECODE=1
ENV PYTHONUNBUFFERED=1
ENV PYTHONIOENCODING=UTF-8
ENV LC_ALL=C.UTF-8
ENV SAGEMAKER_TRAINING_MODULE=sagemaker_sklearn_container.training:main
ENV SM_INPUT=/opt/ml/input
ENV SM_MODEL_DIR=/opt/ml/model
"""


def python39() -> Path:
    """A host Python 3.9 (pyenv) to build the toolkit's cp39 wheel; skips the test without."""
    for candidate in (
        Path.home() / ".pyenv" / "versions" / "3.9.18" / "bin" / "python",
        *(Path(p) for p in (shutil.which("python3.9"),) if p),
    ):
        if candidate.is_file():
            return candidate
    pytest.skip("no host Python 3.9 to build the sagemaker-training wheel for cp39")


def _wheels(cache: Path) -> tuple[Path, ...]:
    marker = cache / "complete.json"
    if marker.is_file():
        return tuple(cache / name for name in json.loads(marker.read_text()))
    shutil.rmtree(cache, ignore_errors=True)
    built = cache / "built"
    python = str(python39())
    pip = [python, "-m", "pip", "-q", "--disable-pip-version-check"]
    # The two sdists (the toolkit and its inotify_simple pin) become wheels first.
    subprocess.run(
        [
            *pip,
            "wheel",
            "--use-pep517",
            "--no-deps",
            "-w",
            str(built),
            TOOLKIT,
            "inotify_simple==1.2.1",
        ],
        check=True,
    )
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            *pip,
            "download",
            "-d",
            str(cache),
            "--find-links",
            str(built),
            "--only-binary=:all:",
            *platforms,
            "--python-version",
            "3.9",
            "--implementation",
            "cp",
            *PACKAGES,
        ],
        check=True,
    )
    names = sorted(p.name for p in cache.glob("*.whl"))
    marker.write_text(json.dumps(names))
    return tuple(cache / name for name in names)


def ensure_sklearn_standin(cli: PodmanCLI) -> str:
    """The stand-in image, tagged as the official URI (built once, then reused)."""
    if cli.image_exists(OFFICIAL_URI):
        return OFFICIAL_URI
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (run scripts/container-infra.sh install)")
    cache = default_cache_dir(os.environ)
    wheels = _wheels(cache / "standin-sklearn-1.2-1-wheels")
    base = ensure_base_image(
        cli,
        BaseImageSpec(
            suite="bullseye", wheels=wheels, repository="localhost/sagelift-test/sklearn-base"
        ),
        cache_dir=cache,
    )
    with tempfile.TemporaryDirectory(prefix="sagelift-standin-") as tmp:
        context = Path(tmp)
        package = context / "sagemaker_sklearn_container"
        package.mkdir()
        (package / "__init__.py").write_text("", encoding="utf-8")
        (package / "training.py").write_text(TRAINING_MODULE, encoding="utf-8")
        dockerfile = context / "Containerfile"
        dockerfile.write_text(CONTAINERFILE.format(base=base.ref), encoding="utf-8")
        cli.build(context, dockerfile, OFFICIAL_URI)
    return OFFICIAL_URI
