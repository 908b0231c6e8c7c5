"""What runs inside the job: the launcher around the user's training code.

``python -m sagelift.runtime`` starts the entry point under the SageMaker ``/opt/ml`` contract,
forwards stop signals to it (which the official toolkit does not), enforces the maximum
runtime and writes ``output/success`` or a useful ``output/failure``. Every backend runs the
job through it: locally, in a container, and on SageMaker as the ``ContainerEntrypoint``.

Stdlib-only, like :mod:`sagelift.contract`, because it ships inside the job's code bundle.
"""

from __future__ import annotations

__all__: list[str] = []
