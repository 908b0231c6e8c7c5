"""sagelift: run a training project, unmodified, as a SageMaker training job.

The public API (imported on first use, so that ``sagelift.runtime`` and ``sagelift.contract``
can ship alone inside a job)::

    import sagelift
    spec = sagelift.load_spec(".", hyperparameters={"epochs": 3})
    result = sagelift.run(spec)            # blocks, streams nothing unless on_line is given
    result.status.state, result.model_artifacts
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sagelift.package import VERSION as __version__

__all__ = [
    "JobFailed",
    "JobHandle",
    "JobResult",
    "JobSpec",
    "JobState",
    "JobStatus",
    "SageliftError",
    "Settings",
    "__version__",
    "describe",
    "fetch",
    "handle_for",
    "list_jobs",
    "load_settings",
    "load_spec",
    "logs",
    "run",
    "stop",
    "submit",
    "wait",
]

_LAZY = {
    "JobFailed": "sagelift.errors",
    "SageliftError": "sagelift.errors",
    "JobHandle": "sagelift.job",
    "JobState": "sagelift.job",
    "JobStatus": "sagelift.job",
    "JobSpec": "sagelift.spec",
    "Settings": "sagelift.settings",
    "handle_for": "sagelift.jobs",
    "load_settings": "sagelift.jobs",
    "JobResult": "sagelift.jobs",
    "describe": "sagelift.jobs",
    "fetch": "sagelift.jobs",
    "list_jobs": "sagelift.jobs",
    "load_spec": "sagelift.jobs",
    "logs": "sagelift.jobs",
    "run": "sagelift.jobs",
    "stop": "sagelift.jobs",
    "submit": "sagelift.jobs",
    "wait": "sagelift.jobs",
}

if TYPE_CHECKING:
    from sagelift.errors import JobFailed, SageliftError
    from sagelift.job import JobHandle, JobState, JobStatus
    from sagelift.jobs import (
        JobResult,
        describe,
        fetch,
        handle_for,
        list_jobs,
        load_settings,
        load_spec,
        logs,
        run,
        stop,
        submit,
        wait,
    )
    from sagelift.settings import Settings
    from sagelift.spec import JobSpec


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sagelift' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
