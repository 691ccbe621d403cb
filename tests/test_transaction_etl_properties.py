"""Properties of the incremental load, for random batches (hypothesis): whatever the batches,
silver holds exactly one row per distinct valid transaction_id, that row is the latest version
seen in any batch, and gold equals an aggregate over the whole silver table."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from common import delta
from common.tables import read_table
from jobs.transaction_etl import (
    PARTITION,
    SILVER_PROPERTIES,
    daily_user_totals,
    latest_transactions,
    newer_transaction_condition,
    refresh_daily_totals,
)
from schemas.transactions import TRANSACTIONS

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 1)
WAREHOUSES = itertools.count()

# (id, user, minutes after START, cents): a small pool of each, so batches collide often.
versions = st.tuples(
    st.sampled_from(["t1", "t2", "t3", "t4", "t5"]),
    st.sampled_from(["u1", "u2"]),
    st.sampled_from([0, 60, 23 * 60 + 59, 24 * 60, 3 * 24 * 60]),
    st.integers(min_value=-5_000, max_value=5_000),
)
batches = st.lists(st.lists(versions, min_size=1, max_size=8), min_size=2, max_size=2)


def as_rows(batch: list[tuple], batch_id: str) -> list[tuple]:
    rows = []
    for tid, user, minutes, cents in batch:
        ts = START + timedelta(minutes=minutes)
        rows.append((tid, user, ts, ts.date(), Decimal(cents) / 100, "f.jsonl", batch_id, START))
    return rows


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_silver_is_latest_per_id_and_gold_is_its_aggregate(
    spark: SparkSession, tmp_path_factory, batches: list[list[tuple]]
) -> None:
    root: Path = tmp_path_factory.mktemp(f"prop{next(WAREHOUSES)}")
    silver, gold = str(root / "transactions"), str(root / "daily_user_totals")
    delta.ensure_table(spark, silver, TRANSACTIONS, [PARTITION], SILVER_PROPERTIES)
    for n, batch in enumerate(batches):
        df = spark.createDataFrame(as_rows(batch, f"b{n}"), TRANSACTIONS).transform(latest_transactions)
        delta.upsert(spark, silver, df, ["transaction_id"], newer_transaction_condition())
        refresh_daily_totals(spark, silver, gold)

    # The model: the greatest (timestamp, amount, user) ever seen per id, in any batch order.
    latest: dict[str, tuple] = {}
    for tid, user, minutes, cents in itertools.chain.from_iterable(batches):
        candidate = (START + timedelta(minutes=minutes), Decimal(cents) / 100, user)
        latest[tid] = max(latest.get(tid, candidate), candidate)
    stored = read_table(spark, silver, "delta").collect()
    assert len(stored) == len(latest)
    assert {r.transaction_id: (r.transaction_ts, r.amount, r.user_id) for r in stored} == latest

    expected: dict[tuple, list] = defaultdict(lambda: [Decimal("0.00"), 0])
    for ts, amount, user in latest.values():
        expected[(user, ts.date())][0] += amount
        expected[(user, ts.date())][1] += 1
    gold_rows = {
        (r.user_id, r.transaction_date): [r.total_amount, r.transaction_count]
        for r in read_table(spark, gold, "delta").collect()
    }
    assert gold_rows == dict(expected)
    recomputed = {
        (r.user_id, r.transaction_date): [r.total_amount, r.transaction_count]
        for r in daily_user_totals(read_table(spark, silver, "delta")).collect()
    }
    assert gold_rows == recomputed
