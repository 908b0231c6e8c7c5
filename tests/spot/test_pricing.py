"""Cost estimates before a launch, the bill after, and the max-cost guard."""

from __future__ import annotations

import pytest

from sagelift.errors import UsageError
from sagelift.pricing import bill, check_max_cost, estimate, load_prices, parse_price_list


def test_shipped_table_has_common_types(tmp_path):
    prices = load_prices({"HOME": str(tmp_path)})
    assert prices.hourly("us-east-1", "ml.m5.xlarge") == pytest.approx(0.23)
    assert prices.source == "shipped snapshot"


def test_estimate_and_max_cost(tmp_path):
    prices = load_prices({"HOME": str(tmp_path)})
    est = estimate(
        instance_type="ml.g5.xlarge",
        count=2,
        region="us-east-1",
        max_runtime=7200,
        expected_seconds=1800,
        spot=True,
        prices=prices,
    )
    assert est.worst_case == pytest.approx(1.408 * 2 * 2)
    assert est.expected_on_demand == pytest.approx(1.408 * 2 * 0.5)
    assert est.expected_spot < est.expected_on_demand
    check_max_cost(est, 10.0, region="us-east-1")
    with pytest.raises(UsageError, match="exceeds max_cost"):
        check_max_cost(est, 5.0, region="us-east-1")


def test_unknown_price_with_max_cost_is_refused(tmp_path):
    est = estimate(
        instance_type="ml.m5.xlarge",
        count=1,
        region="eu-west-1",
        max_runtime=3600,
        expected_seconds=None,
        spot=False,
        prices=load_prices({"HOME": str(tmp_path)}),
    )
    assert est.worst_case is None
    with pytest.raises(UsageError, match="no price"):
        check_max_cost(est, 1.0, region="eu-west-1")


def test_spot_bill_from_describe_figures():
    # DescribeTrainingJob of a spot job: 500 s of training billed as 100 s.
    b = bill(training_seconds=500, billable_seconds=100, count=2, hourly=0.23)
    assert b.savings_percent == pytest.approx(80.0)
    assert b.cost == pytest.approx(100 * 2 * 0.23 / 3600)


def test_price_list_parsing():
    product = {
        "product": {
            "attributes": {"usagetype": "USE1-Train:ml.m5.xlarge", "regionCode": "us-east-1"}
        },
        "terms": {
            "OnDemand": {"x": {"priceDimensions": {"y": {"pricePerUnit": {"USD": "0.2300"}}}}}
        },
    }
    hosting = {
        "product": {
            "attributes": {"usagetype": "USE1-Host:ml.m5.xlarge", "regionCode": "us-east-1"}
        },
        "terms": {"OnDemand": {"x": {"priceDimensions": {"y": {"pricePerUnit": {"USD": "0.23"}}}}}},
    }
    assert parse_price_list([product, hosting]) == {"us-east-1": {"ml.m5.xlarge": 0.23}}


def test_money_below_a_cent_keeps_its_digits():
    from sagelift.pricing import format_usd

    assert format_usd(0.0001) == "$0.0001"
    assert format_usd(0.00234) == "$0.0023"
    assert format_usd(0.0) == "$0.00"
    assert format_usd(0.01) == "$0.01"
    assert format_usd(1234.5) == "$1,234.50"


def test_a_tiny_max_cost_is_shown_as_given(tmp_path):
    est = estimate(
        instance_type="ml.m5.xlarge",
        count=1,
        region="us-east-1",
        max_runtime=3600,
        expected_seconds=None,
        spot=False,
        prices=load_prices({"HOME": str(tmp_path)}),
    )
    with pytest.raises(UsageError) as caught:
        check_max_cost(est, 0.0001, region="us-east-1")
    assert "exceeds max_cost $0.0001" in caught.value.message
    assert "$0.23" in caught.value.message


def test_the_estimate_names_the_run_its_runtime_comes_from(tmp_path):
    from sagelift.pricing import describe_estimate

    prices = load_prices({"HOME": str(tmp_path)})
    common = dict(instance_type="ml.m5.xlarge", count=1, region="us-east-1", spot=False)
    previous = estimate(
        **common,
        max_runtime=86400,
        expected_seconds=1080,
        prices=prices,
        base_job_name="train",
        previous_job="train-20240101-120000",
    )
    line = describe_estimate(previous)
    assert "expected 18 min from the last completed run of train (job train-20240101-120000)" in (
        line
    )
    assert "≈ $0.07 on demand" in line

    first = estimate(**common, max_runtime=86400, expected_seconds=None, prices=prices)
    line = describe_estimate(first)
    assert "at most 24 h (max_runtime; no previous run)" in line
    # A job of a few seconds is not shown as costing nothing.
    short = estimate(
        **common, max_runtime=3600, expected_seconds=4, prices=prices, previous_job="t-1"
    )
    assert "≈ $0.00026 on demand" in describe_estimate(short)
