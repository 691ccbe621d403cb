"""Behaviour features against values computed by hand on a small warehouse: refunds, several
purchases on one day, the window's edges, transactions after the as-of date, a customer
without any transaction and users without a customer row. Each documented definition (frequency
in purchase days, net spend with refunds in, basket with refunds out) has its own test."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from common import behaviour
from common.behaviour import Window, accounting, derive_behaviour, latest_date, read_transactions, with_behaviour
from common.customer_contract import BEHAVIOUR_FEATURES, no_transaction_values
from common.errors import InputError
from common.tables import write_table
from schemas.customers import BEHAVIOUR_FEATURES_SCHEMA, CUSTOMER
from schemas.transactions import TRANSACTIONS

pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 11, 10)
WINDOW = Window(AS_OF, lookback_days=30)  # 2026-10-12 .. 2026-11-10

# (user, date, amount)
ROWS = [
    ("u1", "2026-11-10", "10.00"),  # two purchases on as_of: one purchase day
    ("u1", "2026-11-10", "5.50"),
    ("u1", "2026-11-03", "20.00"),
    ("u1", "2026-11-05", "-4.50"),  # a refund
    ("u2", "2026-10-12", "100.00"),  # the window's first day: in
    ("u2", "2026-10-11", "50.00"),  # the day before: out
    ("u2", "2026-11-11", "70.00"),  # after as_of: does not exist for this run
    ("u3", "2026-11-01", "-30.00"),  # only a refund in the window (of an older purchase)
    ("u3", "2026-09-01", "200.00"),
    ("u4", "2026-01-01", "10.00"),  # only before the window
    ("u5", "2026-11-09", "0.00"),  # no customer row; zero is neither purchase nor refund
    ("u6", "2026-11-12", "9.00"),  # only after as_of: not a user yet
    ("u7", "2026-11-08", "1.00"),  # no customer row
    ("u7", "2026-11-08", "2.00"),
    ("u8", "2026-11-02", "0.10"),  # money is summed as decimals: 0.1 + 0.2 is 0.3
    ("u8", "2026-11-02", "0.20"),
]
CUSTOMERS = ["u1", "u2", "u3", "u4", "u8", "u9"]  # u9 has no transaction at all

# customer -> (transactions in window, recency_days, frequency, monetary, avg_basket, refund_share)
EXPECTED = {
    # last purchase on as_of; purchase days 11-03 and 11-10; 35.50 bought, 4.50 refunded
    "u1": (4, 0, 2, 31.0, 35.5 / 2, 4.5 / 40.0),
    "u2": (1, 29, 1, 100.0, 100.0, 0.0),
    "u3": (1, 30, 0, -30.0, 0.0, 1.0),
    "u4": (0, 30, 0, 0.0, 0.0, 0.0),
    "u5": (1, 30, 0, 0.0, 0.0, 0.0),
    "u7": (2, 2, 1, 3.0, 3.0, 0.0),
    "u8": (2, 8, 1, 0.3, 0.3, 0.0),
}


def transactions_frame(spark: SparkSession) -> DataFrame:
    rows = [
        (f"t{i}", user, dt.datetime.fromisoformat(day), dt.date.fromisoformat(day), Decimal(amount), "f", "b", None)
        for i, (user, day, amount) in enumerate(ROWS)
    ]
    return spark.createDataFrame(rows, TRANSACTIONS)


@pytest.fixture(scope="module")
def warehouse(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("behaviour") / "warehouse"
    write_table(transactions_frame(spark), str(root / "transactions"), "delta", ["transaction_date"])
    return root


@pytest.fixture(scope="module")
def transactions(spark: SparkSession, warehouse: Path) -> DataFrame:
    return read_transactions(spark, str(warehouse))


@pytest.fixture(scope="module")
def derived(transactions: DataFrame) -> dict[str, tuple]:
    rows = derive_behaviour(transactions, WINDOW).collect()
    return {r.customer_id: tuple(r)[1:] for r in rows}


@pytest.fixture(scope="module")
def customers(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(c, 40, "female", "single", 50_000.0, 50) for c in CUSTOMERS], CUSTOMER)


def test_every_user_seen_by_as_of_gets_hand_computed_features(derived: dict[str, tuple]) -> None:
    assert set(derived) == set(EXPECTED)  # u6 transacted only after as_of
    for user, expected in EXPECTED.items():
        assert derived[user] == pytest.approx(expected, rel=1e-12), user


def test_the_schema_is_the_contract(transactions: DataFrame) -> None:
    derived = derive_behaviour(transactions, WINDOW)
    assert [(f.name, f.dataType) for f in derived.schema.fields] == [
        (f.name, f.dataType) for f in BEHAVIOUR_FEATURES_SCHEMA.fields
    ]
    assert tuple(derived.columns[2:]) == BEHAVIOUR_FEATURES


def test_frequency_counts_purchase_days_not_transactions(derived: dict[str, tuple]) -> None:
    # u1: three purchases on two days (two on as_of); u7: two purchases on one day.
    assert (derived["u1"][2], derived["u7"][2]) == (2, 1)


def test_spend_is_net_of_refunds_and_the_basket_is_not(derived: dict[str, tuple]) -> None:
    _, _, _, monetary, basket, refund_share = derived["u1"]
    assert monetary == 10.0 + 5.5 + 20.0 - 4.5
    assert basket == (10.0 + 5.5 + 20.0) / 2  # purchases per purchase day
    assert refund_share == 4.5 / (35.5 + 4.5)


def test_money_is_summed_exactly(derived: dict[str, tuple]) -> None:
    assert derived["u8"][3] == 0.3 and 0.1 + 0.2 != 0.3


def test_recency_is_days_to_as_of_and_the_look_back_when_nothing_was_bought(derived: dict[str, tuple]) -> None:
    assert derived["u1"][1] == 0 and derived["u2"][1] == 29  # bought on as_of; on the window's first day
    assert derived["u3"][1] == derived["u4"][1] == WINDOW.lookback_days  # a refund is not a purchase


def test_a_longer_window_reaches_older_purchases(transactions: DataFrame) -> None:
    rows = {r.customer_id: r for r in derive_behaviour(transactions, Window(AS_OF, 31)).collect()}
    assert (rows["u2"].frequency, rows["u2"].monetary, rows["u2"].recency_days) == (2, 150.0, 29)
    one_day = {r.customer_id: r for r in derive_behaviour(transactions, Window(AS_OF, 1)).collect()}
    assert (one_day["u1"].frequency, one_day["u1"].monetary, one_day["u1"].transactions) == (1, 15.5, 2)
    assert one_day["u2"].recency_days == 1  # nothing bought within the one day: the look-back


def test_customers_without_transactions_get_the_documented_values(
    transactions: DataFrame, customers: DataFrame
) -> None:
    joined = with_behaviour(customers, derive_behaviour(transactions, WINDOW), WINDOW)
    rows = {r.customer_id: r.asDict() for r in joined.collect()}
    assert set(rows) == set(CUSTOMERS)  # nobody dropped, nobody added
    assert {name: rows["u9"][name] for name in BEHAVIOUR_FEATURES} == no_transaction_values(30)
    assert rows["u9"]["transactions"] == 0
    assert rows["u9"]["age"] == 40  # the customer's own columns kept
    assert joined.columns == [*customers.columns, *(f.name for f in BEHAVIOUR_FEATURES_SCHEMA.fields[1:])]


def test_the_report_counts_users_without_a_customer_row(transactions: DataFrame, customers: DataFrame) -> None:
    derived = derive_behaviour(transactions, WINDOW)
    assert accounting(derived, customers) == {
        "users": 7,
        "transactions_in_window": 4 + 1 + 1 + 0 + 1 + 2 + 2,
        "customers_without_transactions": 2,  # u4 (only older ones) and u9
        "users_without_customer_row": 2,  # u5 and u7
        "transactions_of_users_without_customer_row": 3,
    }
    assert accounting(derived, None) == {"users": 7, "transactions_in_window": 11}


def test_the_default_as_of_is_the_latest_transaction_date(transactions: DataFrame) -> None:
    assert latest_date(transactions) == dt.date(2026, 11, 12)


def test_a_warehouse_without_transactions_is_a_one_line_error(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no transactions table in the warehouse"):
        read_transactions(spark, str(tmp_path))
    write_table(transactions_frame(spark).limit(0), str(tmp_path / behaviour.TRANSACTIONS_TABLE), "delta")
    with pytest.raises(InputError, match="transactions table is empty"):
        latest_date(read_transactions(spark, str(tmp_path)))


def test_window_bounds() -> None:
    assert WINDOW.first_day == dt.date(2026, 10, 12)
    assert WINDOW.describe() == {"as_of": "2026-11-10", "lookback_days": 30, "first_day": "2026-10-12"}


def test_the_warehouse_may_be_on_s3(spark: SparkSession, s3) -> None:
    """The same table in s3:// (moto's server): read, derived and accounted the same."""
    s3.create_bucket("behaviour-warehouse")
    write_table(transactions_frame(spark), "s3://behaviour-warehouse/wh/transactions", "delta", ["transaction_date"])
    found = behaviour.load_behaviour(spark, "s3://behaviour-warehouse/wh", AS_OF, 30, None, lambda df: df)
    rows = {r.customer_id: tuple(r)[1:] for r in found.population.collect()}
    assert set(rows) == set(EXPECTED) and rows["u1"] == pytest.approx(EXPECTED["u1"], rel=1e-12)
    assert (found.figures["users"], found.figures["as_of"]) == (7, "2026-11-10")
