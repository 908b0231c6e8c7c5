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
