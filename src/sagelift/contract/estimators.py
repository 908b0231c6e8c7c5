"""The hyperparameters an SDK v2 framework estimator adds of its own. Pure.

Every framework estimator sends the ``sagemaker_*`` script-mode keys
(``sagelift.contract.config_files``) and its distribution's keys
(``sagelift.contract.distribution``). One adds more: ``TensorFlow.hyperparameters()``
(``sagemaker/tensorflow/estimator.py``, SDK 2.257.7) sends ``model_dir``, unless the estimator
was given ``model_dir=False``::

    self.model_dir = self.model_dir or self._default_s3_path(
        "model", mpi=additional_hyperparameters.get("sagemaker_mpi_enabled", False))

where ``_default_s3_path`` returns ``/opt/ml/model`` when MPI is enabled, else
``s3_path_join(output_path, job_name, "model")`` (and ``/opt/ml/shared/model`` in local mode
with local code, which sagelift has no equivalent of). ``SKLearn``, ``PyTorch`` and
``HuggingFace`` add nothing beyond their distribution keys (and a Training Compiler's, which
sagelift does not configure; ``TensorFlow`` too). The SDK overwrites a ``model_dir`` key of
``hyperparameters=`` with that default; only its ``model_dir=`` argument sets another.
sagelift has the hyperparameters only, so a ``model_dir`` the user sets there plays that
argument's part and wins.
"""

from __future__ import annotations

import re

from sagelift.contract.distribution import Distribution
from sagelift.contract.hyperparameters import JSONValue

__all__ = ["CONTAINER_MODEL_DIR", "estimator_hyperparameters", "tensorflow_model_dir"]

#: The model directory inside the job (``SM_MODEL_DIR``), what the TensorFlow estimator sends as
#: ``model_dir`` under MPI.
CONTAINER_MODEL_DIR = "/opt/ml/model"


def _s3_path_join(*parts: str) -> str:
    """``sagemaker.s3_utils.s3_path_join``: the non-empty parts joined by ``/``, repeated
    slashes collapsed (but ``s3://``'s), no leading or trailing slash."""
    joined = "/".join(p for p in parts if p)
    scheme = "s3://" if joined.startswith("s3://") else ""
    return scheme + re.sub("/+", "/", joined[len(scheme) :]).strip("/")


def tensorflow_model_dir(
    *, output_path: str | None, job_name: str, distribution: Distribution | None
) -> str:
    """The ``model_dir`` the TensorFlow estimator sends when it is given none: ``/opt/ml/model``
    with MPI enabled, else ``<output_path>/<job_name>/model`` joined as the SDK joins S3 paths.
    ``output_path`` None is a job on this machine, where there is no S3 output to name: the
    container's model directory, ``/opt/ml/model``."""
    if output_path is None or (distribution is not None and distribution.kind == "mpi"):
        return CONTAINER_MODEL_DIR
    return _s3_path_join(output_path, job_name, "model")


def estimator_hyperparameters(
    framework: str | None,
    *,
    output_path: str | None,
    job_name: str,
    distribution: Distribution | None,
) -> dict[str, JSONValue]:
    """The hyperparameters (decoded values) the SDK v2 estimator for ``framework`` (the
    ``image.framework`` name) adds beyond the script-mode and distribution keys: ``model_dir``
    (``tensorflow_model_dir``) for ``tensorflow``, nothing for any other or for None. They are
    defaults: a user's value of the same name wins."""
    if framework != "tensorflow":
        return {}
    return {
        "model_dir": tensorflow_model_dir(
            output_path=output_path, job_name=job_name, distribution=distribution
        )
    }
