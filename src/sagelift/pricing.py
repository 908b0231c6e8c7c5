"""What a SageMaker training job costs: an estimate before launch, the bill after.

Prices come from a table that ships with sagelift (``prices.json``, a snapshot) or from a
refreshed copy in the user's cache (``sagelift prices refresh`` reads AWS's Price List API).
Billing follows ``DescribeTrainingJob``: cost = ``BillableTimeInSeconds`` × ``InstanceCount`` ×
hourly price; spot savings = ``1 − Billable/TrainingTime`` (botocore's documentation of
``BillableTimeInSeconds``; sagemaker-contract §1.5).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sagelift.errors import UsageError

__all__ = [
    "Bill",
    "CostEstimate",
    "PriceTable",
    "bill",
    "check_max_cost",
    "estimate",
    "format_duration",
    "format_usd",
    "load_prices",
    "parse_price_list",
]

#: Spot prices float; AWS quotes "up to 90%" savings. Estimates say which discount they assume.
ASSUMED_SPOT_DISCOUNT = 0.7


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTable:
    as_of: str
    source: str
    regions: Mapping[str, Mapping[str, float]]

    def hourly(self, region: str, instance_type: str) -> float | None:
        return self.regions.get(region, {}).get(instance_type)

    def hourly_table(self, region: str) -> Mapping[str, float]:
        return self.regions.get(region, {})


@dataclass(frozen=True, slots=True, kw_only=True)
class CostEstimate:
    """Price × count × runtime. ``previous_job`` names the completed run of ``base_job_name``
    whose duration is ``expected_seconds``; None when there was none and the expected runtime is
    the max runtime."""

    instance_type: str
    count: int
    hourly: float | None
    expected_seconds: int
    worst_seconds: int
    spot: bool
    base_job_name: str = ""
    previous_job: str | None = None

    @property
    def basis(self) -> str:
        """Where the expected runtime comes from, in words."""
        if self.previous_job is None:
            of = f" of {self.base_job_name}" if self.base_job_name else ""
            return (
                f"at most {format_duration(self.worst_seconds)} (max_runtime; no previous run{of})"
            )
        return (
            f"expected {format_duration(self.expected_seconds)} from the last completed run of "
            f"{self.base_job_name} (job {self.previous_job})"
        )

    @property
    def expected_on_demand(self) -> float | None:
        return (
            None if self.hourly is None else self.hourly * self.count * self.expected_seconds / 3600
        )

    @property
    def expected_spot(self) -> float | None:
        on_demand = self.expected_on_demand
        return None if on_demand is None else on_demand * (1 - ASSUMED_SPOT_DISCOUNT)

    @property
    def worst_case(self) -> float | None:
        """On-demand price for the whole max runtime: spot never bills more than that."""
        return None if self.hourly is None else self.hourly * self.count * self.worst_seconds / 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class Bill:
    training_seconds: int | None
    billable_seconds: int | None
    count: int
    hourly: float | None

    @property
    def savings_percent(self) -> float | None:
        if not self.training_seconds or self.billable_seconds is None:
            return None
        return (1 - self.billable_seconds / self.training_seconds) * 100

    @property
    def cost(self) -> float | None:
        if self.hourly is None or self.billable_seconds is None:
            return None
        return self.billable_seconds * self.count * self.hourly / 3600


def format_usd(amount: float) -> str:
    """Dollars with cents, and with two significant digits below a cent, so that a small
    amount is never shown as $0.00: ``$1,234.50``, ``$0.0001``, ``$0.0023``."""
    if amount == 0 or abs(amount) >= 0.01:
        return f"${amount:,.2f}"
    places = 1 - math.floor(math.log10(abs(amount)))
    text = f"{amount:.{places}f}".rstrip("0")
    return f"${text}"


def format_duration(seconds: float) -> str:
    """``45 s``, ``18 min``, ``3.5 h``: the unit that keeps the number readable."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.3g} h"


def cache_file(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "~")) / ".cache")
    return Path(base).expanduser() / "sagelift" / "prices.json"


def _table(data: Mapping[str, Any], source: str) -> PriceTable:
    return PriceTable(
        as_of=str(data.get("as_of", "?")),
        source=source,
        regions={r: {k: float(v) for k, v in t.items()} for r, t in data["regions"].items()},
    )


def load_prices(environ: Mapping[str, str] | None = None) -> PriceTable:
    """The refreshed table from the cache when there is one, else the shipped snapshot."""
    cached = cache_file(os.environ if environ is None else environ)
    if cached.is_file():
        try:
            return _table(json.loads(cached.read_text(encoding="utf-8")), str(cached))
        except (ValueError, KeyError):
            pass
    shipped = resources.files("sagelift").joinpath("prices.json").read_text(encoding="utf-8")
    return _table(json.loads(shipped), "shipped snapshot")


def estimate(
    *,
    instance_type: str,
    count: int,
    region: str,
    max_runtime: int,
    expected_seconds: int | None,
    spot: bool,
    prices: PriceTable,
    base_job_name: str = "",
    previous_job: str | None = None,
) -> CostEstimate:
    """The estimate for ``expected_seconds`` (the duration of ``previous_job``, a completed run
    of ``base_job_name``), or for the whole ``max_runtime`` when that is None."""
    known = bool(expected_seconds)
    return CostEstimate(
        instance_type=instance_type,
        count=count,
        hourly=prices.hourly(region, instance_type),
        expected_seconds=expected_seconds if expected_seconds else max_runtime,
        worst_seconds=max_runtime,
        spot=spot,
        base_job_name=base_job_name,
        previous_job=previous_job if known else None,
    )


def check_max_cost(estimate_: CostEstimate, max_cost: float | None, *, region: str) -> None:
    """Refuse (UsageError, exit 2) a launch whose worst case exceeds ``max_cost``."""
    if max_cost is None:
        return
    worst = estimate_.worst_case
    if worst is None:
        raise UsageError(
            f"max_cost is set but sagelift has no price for {estimate_.instance_type} in {region}",
            hint="run 'sagelift prices refresh', or drop max_cost",
        )
    if worst > max_cost:
        raise UsageError(
            f"worst case {format_usd(worst)} ({estimate_.count} × {estimate_.instance_type} "
            f"for {format_duration(estimate_.worst_seconds)}, the whole max_runtime) exceeds "
            f"max_cost {format_usd(max_cost)}",
            hint="lower max_runtime, use a smaller instance type, or raise max_cost",
        )


def bill(
    *,
    training_seconds: int | None,
    billable_seconds: int | None,
    count: int,
    hourly: float | None,
) -> Bill:
    return Bill(
        training_seconds=training_seconds,
        billable_seconds=billable_seconds,
        count=count,
        hourly=hourly,
    )


def parse_price_list(products: Iterable[str | Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Hourly training prices by region and instance type from Price List ``GetProducts`` items.

    SageMaker training products carry a usage type such as ``USE1-Train:ml.m5.xlarge`` and a
    ``regionCode``; on-demand terms hold the USD price per hour.
    """
    table: dict[str, dict[str, float]] = {}
    for item in products:
        product = json.loads(item) if isinstance(item, str) else item
        attrs = product.get("product", {}).get("attributes", {})
        usage = str(attrs.get("usagetype", ""))
        region = attrs.get("regionCode")
        if "Train:ml." not in usage or not region or "Spot" in usage:
            continue
        instance_type = usage.split("Train:", 1)[1]
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if usd is not None and float(usd) > 0:
                    table.setdefault(region, {})[instance_type] = float(usd)
    return table


def describe_estimate(est: CostEstimate) -> str:
    """One line for the launch log: on-demand and spot, and the worst case."""
    if est.hourly is None:
        return (
            f"cost: no price known for {est.instance_type} here "
            "(run 'sagelift prices refresh' to fetch current prices)"
        )
    text = (
        f"cost estimate: {est.count} × {est.instance_type} at ${est.hourly:.3f}/h, "
        f"{est.basis}: ≈ {format_usd(est.expected_on_demand or 0)} on demand"
    )
    if est.spot:
        text += (
            f", ≈ {format_usd(est.expected_spot or 0)} on spot if the usual "
            f"{ASSUMED_SPOT_DISCOUNT:.0%} discount holds"
        )
    return text + (
        f"; worst case {format_usd(est.worst_case or 0)} "
        f"(the whole max_runtime, {format_duration(est.worst_seconds)}, on demand)"
    )
