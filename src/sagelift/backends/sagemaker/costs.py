"""What a SageMaker job costs: the estimate the cost guard checks before a submission ships
anything, and the bill from the billable seconds SageMaker reports once it has run.

Prices come from ``sagelift.pricing`` (its cached or shipped table); nothing here reaches AWS.
"""

from __future__ import annotations

from dataclasses import replace

from sagelift import records
from sagelift.backends.base import JobState, JobStatus
from sagelift.job import CloudJob
from sagelift.pricing import CostEstimate, bill, estimate, format_usd, load_prices
from sagelift.spec import JobSpec

__all__ = ["cost_estimate", "with_bill"]


def cost_estimate(spec: JobSpec, region: str) -> CostEstimate:
    """Price × expected runtime × count; the expected runtime is the last completed run of the
    same experiment (base job name) when there is one, else the max runtime. The estimate names
    which (``CostEstimate.basis``)."""
    previous = _previous_run(spec)
    return estimate(
        instance_type=spec.instance_type,
        count=spec.instance_count,
        region=region,
        max_runtime=spec.max_runtime,
        expected_seconds=None if previous is None else previous[1],
        spot=spec.spot,
        prices=load_prices(),
        base_job_name=spec.base_job_name,
        previous_job=None if previous is None else previous[0],
    )


def _previous_run(spec: JobSpec) -> tuple[str, int] | None:
    """The name and duration (s) of the newest completed run of the spec's base job name."""
    for record_dir in records.list_records(spec.project_dir):
        if not record_dir.name.startswith(spec.base_job_name + "-"):
            continue
        try:
            status = records.read_status(record_dir)
        except (OSError, ValueError, KeyError):
            continue
        if status.state is JobState.COMPLETED and status.duration:
            return record_dir.name, max(1, round(status.duration))
    return None


def with_bill(status: JobStatus, cloud: CloudJob | None) -> JobStatus:
    """``status`` with its cost and spot savings, from the billable seconds SageMaker reports."""
    if status.billable_seconds is None or cloud is None:
        return status
    count = cloud.instance_count
    charge = bill(
        training_seconds=status.training_seconds,
        billable_seconds=status.billable_seconds,
        count=count,
        hourly=cloud.hourly_price,
    )
    notes = list(status.notes)
    if charge.savings_percent is not None and cloud.spot:
        notes.append(f"managed spot savings: {charge.savings_percent:.1f} %")
    if charge.cost is not None:
        notes.append(
            f"cost: {format_usd(charge.cost)} ({count} × billable {status.billable_seconds} s)"
        )
    return replace(status, cost_usd=charge.cost, notes=tuple(notes))
