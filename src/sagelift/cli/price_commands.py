"""``sagelift prices show|refresh``: the price table behind cost estimates."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sagelift.cli import render

__all__ = ["COMMANDS", "register"]

# The Price List API answers in a few regions only; us-east-1 serves every region's prices.
PRICE_LIST_REGION = "us-east-1"


def register(sub: Any) -> None:
    prices = sub.add_parser("prices", help="show or refresh the instance prices used for costs")
    action = prices.add_subparsers(dest="prices_action", metavar="ACTION", required=True)
    show = action.add_parser("show", help="the hourly prices sagelift knows for a region")
    show.add_argument("--region", default="us-east-1")
    refresh = action.add_parser("refresh", help="fetch current prices from AWS's Price List API")
    refresh.add_argument("--region", action="append", help="region(s) to fetch (default: all)")


def cmd_prices(args: argparse.Namespace, project: Path) -> int:
    from sagelift import pricing
    from sagelift.backends.sagemaker.validation import check_region

    for region in [args.region] if args.prices_action == "show" else args.region or []:
        check_region(region, field="--region")
    if args.prices_action == "show":
        table = pricing.load_prices()
        rows = [[t, f"${p:.3f}"] for t, p in sorted(table.hourly_table(args.region).items())]
        render.line(f"prices for {args.region} ({table.source}, as of {table.as_of})")
        if not rows:
            render.line("no prices for this region; run 'sagelift prices refresh'")
            return 0
        render.table(rows, ["instance type", "per hour"])
        return 0
    return _refresh(args.region)


def _refresh(regions: list[str] | None) -> int:
    from sagelift import pricing
    from sagelift.aws import AwsSettings, client, map_client_error

    filters = [{"Type": "TERM_MATCH", "Field": "productFamily", "Value": "ML Instance"}]
    products: list[str] = []
    paginator = client("pricing", AwsSettings(region=PRICE_LIST_REGION)).get_paginator(
        "get_products"
    )
    from botocore.exceptions import BotoCoreError, ClientError  # present once boto3 is

    try:
        for page in paginator.paginate(ServiceCode="AmazonSageMaker", Filters=filters):
            products.extend(page.get("PriceList", []))
    except (ClientError, BotoCoreError) as exc:
        raise map_client_error(exc, action="pricing:GetProducts") from exc
    table = pricing.parse_price_list(products)
    if regions:
        table = {r: t for r, t in table.items() if r in regions}
    target = pricing.cache_file(os.environ)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps({"as_of": date.today().isoformat(), "regions": table}, indent=1, sort_keys=True)
    )
    count = sum(len(t) for t in table.values())
    render.line(f"sagelift: {count} training prices in {len(table)} region(s) saved to {target}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Path], int]] = {"prices": cmd_prices}
