"""A stand-in for SageMaker's XGBoost algorithm image, for the container backend and rehearsal.

The official image (``sagemaker-xgboost:<version>``, built from aws/sagemaker-xgboost-container)
cannot be pulled without AWS credentials. The stand-in reproduces what a training job sees of
it in algorithm mode: SageMaker runs ``IMAGE train``; ``train`` reads
``/opt/ml/input/config/{hyperparameters,inputdataconfig}.json``, trains on
``/opt/ml/input/data/<channel>``, prints the ``[N]\\ttrain-<metric>:<v>\\tvalidation-<metric>:<v>``
lines and writes ``/opt/ml/model/xgboost-model`` (failures: ``/opt/ml/output/failure``). It
reproduces the container's behaviour, not its code: ``train`` runs sagelift's own
``sagelift.algorithms.xgboost_runner`` (the module local jobs run), copied into the image.

What differs from the official image: Debian's python3 instead of the container's conda
Python; the ``xgboost`` the caller installs (the official 1.7-1 image has 1.7.6); no
sagemaker-training toolkit, script mode, serving stack or distributed (Dask/Rabit) training.

This module is pure: it renders the build context's small files; building (a base image with
Python, numpy, scipy and xgboost; ``COPY`` of the sagelift package) is the caller's.
"""

from __future__ import annotations

__all__ = ["PACKAGE_DIR", "TRAIN_SCRIPT", "standin_containerfile"]

#: The directory of the build context the caller fills with the ``sagelift`` package.
PACKAGE_DIR = "sagelift"

#: ``/usr/local/bin/train``: what ``IMAGE train`` runs. SageMaker's ``train`` argument is the
#: command's name, not an argument to the runner, which reads ``/opt/ml``.
TRAIN_SCRIPT = """\
#!/bin/sh
# SageMaker XGBoost algorithm mode, run by sagelift's runner (a stand-in image).
exec python3 -m sagelift.algorithms.xgboost_runner
"""


def standin_containerfile(*, base: str, python_version: str, version: str) -> str:
    """The Containerfile of the stand-in for XGBoost ``version`` on ``base``.

    ``base`` holds python3 ``python_version`` (``major.minor``) with numpy, scipy and
    xgboost; the context holds ``train`` (``TRAIN_SCRIPT``) and ``PACKAGE_DIR``. The ENV lines
    are the official image's own (``SM_INPUT``, ``SM_MODEL_DIR``, the config file paths).
    """
    site = f"/usr/local/lib/python{python_version}/dist-packages"
    return (
        f"FROM {base}\n"
        f"COPY {PACKAGE_DIR} {site}/{PACKAGE_DIR}\n"
        "COPY --chmod=0755 train /usr/local/bin/train\n"
        "ENV PYTHONUNBUFFERED=1\n"
        "ENV PYTHONDONTWRITEBYTECODE=1\n"
        "ENV LC_ALL=C.UTF-8\n"
        "ENV SM_INPUT=/opt/ml/input\n"
        "ENV SM_INPUT_TRAINING_CONFIG_FILE=/opt/ml/input/config/hyperparameters.json\n"
        "ENV SM_INPUT_DATA_CONFIG_FILE=/opt/ml/input/config/inputdataconfig.json\n"
        "ENV SM_MODEL_DIR=/opt/ml/model\n"
        f"ENV SAGEMAKER_XGBOOST_VERSION={version}\n"
        f"LABEL org.sagelift.standin=sagemaker-xgboost:{version}\n"
    )
