"""A job as its supervisor holds it: record, run plan, layout, and the status kept current.

The attempt loop (:mod:`sagelift.backends.supervisor`), the restart on new instances
(:mod:`sagelift.backends.instances`) and the job's end (:mod:`sagelift.backends.outcome`) all
work on one ``SupervisedJob``: its ``status`` is written through ``save`` only, and ``doing``
says what the supervisor is doing, for the failure reason of an OS error.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sagelift import records
from sagelift.backends.failure_reasons import os_failure_reason
from sagelift.contract.layout import TrainingLayout
from sagelift.errors import BackendError
from sagelift.job import JobStatus, LocalRun

__all__ = ["SupervisedJob"]


class SupervisedJob:
    """The job whose record is ``record_dir``. Raises BackendError when the record has no run
    plan (a job not submitted through sagelift)."""

    def __init__(self, record_dir: Path) -> None:
        self.record_dir = record_dir
        self.record = records.read_record(record_dir)
        if self.record.run is None:
            raise BackendError(
                f"job {self.record.name} has no run plan", hint="submit the job through sagelift"
            )
        self.run: LocalRun = self.record.run
        self.layout = TrainingLayout(self.run.layout_root)
        self.status = records.read_status(record_dir)
        self.lock = threading.Lock()
        #: What the supervisor is doing, for the failure reason of an OS error.
        self.doing = "starting the job"

    def save(self, status: JobStatus) -> None:
        with self.lock:
            self.status = status
            records.write_status(self.record_dir, status)

    def log_line(self, text: str) -> None:
        """Append a sagelift line to the job's log (what ``run`` and ``logs -f`` show)."""
        with open(self.record_dir / records.LOG_FILE, "ab") as log_file:
            log_file.write(f"sagelift: {text}\n".encode())

    def os_failure(self, exc: OSError) -> str:
        """The failure reason of an OS error met while ``doing`` something (see
        ``failure_reasons.os_failure_reason``, which frees what it can first)."""
        return os_failure_reason(exc, self.doing, layout=self.layout, record_dir=self.record_dir)
