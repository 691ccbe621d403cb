"""Customer behaviour from the warehouse: recency, frequency, monetary value, average basket and
refund share per user, over a look-back window ending on an as-of date.

    transactions (silver: user_id, transaction_date, amount)
      ─ on or before as_of ─> per user ─> behaviour (customer_id = user_id)
    customers ─ left join ─> customers with behaviour (no transaction: documented values)

Definitions (docs/jobs/customer_segmentation.md, "Behaviour features"; `tests/test_behaviour.py` pins each one):
- the window is the `lookback_days` days ending on `as_of`, both ends included;
  transactions after `as_of` do not exist as far as a run is concerned;
- a purchase is a transaction with amount > 0, a refund one with amount < 0 (zero: neither);
- recency_days: days from the last purchase day in the window to as_of (0: bought on as_of);
  no purchase in the window -> lookback_days;
- frequency: days with at least one purchase (several purchases on one day are one visit;
  a checkout paid in three transactions is not three times the loyalty);
- monetary: net spend, purchases minus refunds, in the window (negative when refunds of
  earlier purchases outweigh new ones);
- avg_basket: purchases / frequency, what a buying day is worth (refunds out);
- refund_share: refunded / (purchased + refunded), by amount, from 0 to 1.

Money is summed exactly as decimals, then turned into doubles for the model. A customer
without any transaction in the window gets `customer_contract.no_transaction_values`.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.cli import iso_date, storage_path
from common.customer_contract import (
    AVG_BASKET,
    CUSTOMER_ID,
    FREQUENCY,
    MONETARY,
    RECENCY_DAYS,
    REFUND_SHARE,
    no_transaction_values,
)
from common.errors import InputError
from common.fs import join_path, path_exists
from common.tables import read_table
from schemas import conform_to
from schemas.customers import BEHAVIOUR_FEATURES_SCHEMA

TRANSACTIONS_TABLE = "transactions"
TRANSACTIONS = "transactions"  # the per-customer count of transactions in the window
USER_ID, DATE, AMOUNT = "user_id", "transaction_date", "amount"


@dataclass(frozen=True)
class Window:
    """The look-back window: `lookback_days` days ending on `as_of`, both included."""

    as_of: dt.date
    lookback_days: int

    @property
    def first_day(self) -> dt.date:
        return self.as_of - dt.timedelta(days=self.lookback_days - 1)

    def describe(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "lookback_days": self.lookback_days,
            "first_day": self.first_day.isoformat(),
        }


def read_transactions(spark: SparkSession, warehouse: str) -> DataFrame:
    """The columns of the ETL's silver `transactions` table that behaviour needs, typed as the
    ETL's contract says; a one-line InputError when the warehouse has no such table."""
    path = join_path(warehouse, TRANSACTIONS_TABLE)
    if not path_exists(spark, join_path(path, "_delta_log")):
        raise InputError(f"no transactions table in the warehouse {warehouse} (expected the transaction ETL's {path})")
    table = read_table(spark, path, "delta")
    expected = {USER_ID: "string", DATE: "date", AMOUNT: "decimal(18,2)"}
    found = dict(table.dtypes)
    wrong = {name: found.get(name) for name, kind in expected.items() if found.get(name) != kind}
    if wrong:
        raise InputError(f"{path} is not the ETL's transactions table: expected {expected}, found {wrong}")
    return table.select(USER_ID, DATE, AMOUNT)


def latest_date(transactions: DataFrame) -> dt.date:
    """The default as-of date: the latest transaction date in the table."""
    latest = transactions.agg(F.max(DATE)).first()[0]
    if latest is None:
        raise InputError("the warehouse's transactions table is empty: no behaviour to derive")
    return latest


def derive_behaviour(transactions: DataFrame, window: Window) -> DataFrame:
    """One row per user with a transaction on or before `as_of` (BEHAVIOUR_FEATURES_SCHEMA):
    a user whose transactions are all older than the window is there, with the
    no-transaction values. Pure: no IO, one aggregation."""
    as_of, first = F.lit(window.as_of), F.lit(window.first_day)
    seen = transactions.filter(F.col(DATE) <= as_of)
    in_window = F.col(DATE) >= first
    purchase = in_window & (F.col(AMOUNT) > 0)
    refund = in_window & (F.col(AMOUNT) < 0)
    money = "decimal(28,2)"  # room for any sum of decimal(18,2) amounts: exact
    per_user = seen.groupBy(F.col(USER_ID).alias(CUSTOMER_ID)).agg(
        F.count(F.when(in_window, True)).alias(TRANSACTIONS),
        F.max(F.when(purchase, F.col(DATE))).alias("last_purchase"),
        F.countDistinct(F.when(purchase, F.col(DATE))).alias(FREQUENCY),
        F.coalesce(F.sum(F.when(purchase, F.col(AMOUNT).cast(money))), F.lit(0).cast(money)).alias("purchased"),
        F.coalesce(F.sum(F.when(refund, -F.col(AMOUNT).cast(money))), F.lit(0).cast(money)).alias("refunded"),
    )
    purchased, refunded = F.col("purchased").cast("double"), F.col("refunded").cast("double")
    moved = F.col("purchased") + F.col("refunded")
    none = no_transaction_values(window.lookback_days)
    return per_user.select(
        CUSTOMER_ID,
        TRANSACTIONS,
        F.coalesce(F.datediff(as_of, F.col("last_purchase")), F.lit(none[RECENCY_DAYS])).alias(RECENCY_DAYS),
        F.col(FREQUENCY),
        (F.col("purchased") - F.col("refunded")).cast("double").alias(MONETARY),
        F.when(F.col(FREQUENCY) > 0, purchased / F.col(FREQUENCY)).otherwise(none[AVG_BASKET]).alias(AVG_BASKET),
        F.when(moved > 0, refunded / moved.cast("double")).otherwise(none[REFUND_SHARE]).alias(REFUND_SHARE),
    ).transform(conform_to(BEHAVIOUR_FEATURES_SCHEMA))


def with_behaviour(customers: DataFrame, behaviour: DataFrame, window: Window) -> DataFrame:
    """Every customer, with its behaviour; a customer without a transaction on or before
    as_of gets the no-transaction values (and 0 transactions), not a dropped row."""
    defaults = {**no_transaction_values(window.lookback_days), TRANSACTIONS: 0}
    joined = customers.join(behaviour, CUSTOMER_ID, "left")
    filled = (
        F.coalesce(F.col(f.name), F.lit(defaults[f.name])).cast(f.dataType).alias(f.name)
        for f in BEHAVIOUR_FEATURES_SCHEMA.fields[1:]
    )
    return joined.select(*customers.columns, *filled)


def accounting(behaviour: DataFrame, customers: DataFrame | None) -> dict[str, int]:
    """What the report says about the join: users and their transactions in the window, and,
    with a customer file, the customers without any and the users without a customer row
    (their transactions are counted here; they are not segmented)."""
    users = behaviour.agg(F.count("*").alias("users"), F.coalesce(F.sum(TRANSACTIONS), F.lit(0)).alias("tx")).first()
    figures = {"users": int(users["users"]), "transactions_in_window": int(users["tx"])}
    if customers is None:
        return figures
    orphans = behaviour.join(customers.select(CUSTOMER_ID), CUSTOMER_ID, "left_anti")
    orphan = orphans.agg(F.count("*").alias("users"), F.coalesce(F.sum(TRANSACTIONS), F.lit(0)).alias("tx")).first()
    without = customers.select(CUSTOMER_ID).join(behaviour.filter(F.col(TRANSACTIONS) > 0), CUSTOMER_ID, "left_anti")
    return {
        **figures,
        "customers_without_transactions": without.count(),
        "users_without_customer_row": int(orphan["users"]),
        "transactions_of_users_without_customer_row": int(orphan["tx"]),
    }


@dataclass(frozen=True)
class Behaviour:
    """What a segmentation run segments, once the warehouse is read: the population (the
    customers with their behaviour, or every warehouse user), the window, and the figures
    for the report (`accounting`, plus the window)."""

    population: DataFrame
    window: Window
    figures: dict[str, Any]


def load_behaviour(
    spark: SparkSession,
    warehouse: str,
    as_of: dt.date | None,
    lookback_days: int,
    customers: DataFrame | None,
    cache: Callable[[DataFrame], DataFrame],
) -> Behaviour:
    """Read the warehouse's transactions, derive behaviour over the window ending on `as_of`
    (default: the latest transaction date) and join it to `customers` (None: behaviour only,
    every user with a transaction on or before as_of). The derived table is cached: training,
    the report's figures and the profiles all read it."""
    transactions = read_transactions(spark, warehouse)
    window = Window(as_of or latest_date(transactions), lookback_days)
    behaviour = cache(derive_behaviour(transactions, window))
    figures = {"warehouse": warehouse, **window.describe(), **accounting(behaviour, customers)}
    if customers is None and figures["users"] == 0:
        raise InputError(f"no transactions on or before {window.as_of} in the warehouse {warehouse}")
    population = behaviour if customers is None else with_behaviour(customers, behaviour, window)
    return Behaviour(population, window, figures)


# The command line of the two segmentation jobs: where the behaviour comes from.


def add_behaviour_arguments(parser: argparse.ArgumentParser) -> None:
    """--warehouse and --as-of, shared with batch scoring (which takes the look-back from the model)."""
    parser.add_argument(
        "--warehouse",
        type=storage_path,
        help="the transaction ETL's warehouse root (its transactions table): behaviour features; local or s3://",
    )
    parser.add_argument(
        "--as-of",
        type=iso_date,
        metavar="DATE",
        help="last day of the behaviour window (default: the latest transaction date in the warehouse)",
    )


def require_a_source(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not (args.input or args.warehouse):
        parser.error("the following arguments are required: --input (customers), --warehouse (behaviour) or both")
    if args.as_of and not args.warehouse:
        parser.error("--as-of needs --warehouse")
