"""A generated population with known behaviour groups, for the golden behaviour tests.

Four behaviour groups (loyal big spenders, lapsed, bargain regulars, serial returners) with
demographics drawn independently of the group, from the generator's demographic mix: so the
groups can be found from behaviour and not from demographics. A few whales (baskets a
thousand times the median) make the money heavy-tailed, as real spend is. Also: warehouse
users without a customer row. Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from math import comb
from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame, SparkSession

from common.customer_contract import RAW_FIELDS, InvalidCustomerError, clean_customer
from schemas.transactions import TRANSACTIONS
from tools import generate

AS_OF = dt.date(2026, 11, 30)
LOOKBACK_DAYS = 90
PER_GROUP = 100
ORPHANS = 12
# name: (purchase days (low, high), last purchase days before as_of (low, high), basket median,
#        refund probability per purchase day)
GROUPS = {
    "loyal": ((15, 25), (0, 4), 150.0, 0.02),
    "lapsed": ((1, 3), (60, 85), 40.0, 0.0),
    "bargain": ((15, 25), (0, 6), 8.0, 0.02),
    "returner": ((4, 8), (10, 30), 60.0, 0.5),
}
WHALE_SHARE = 0.03


def _user_transactions(rng: np.random.Generator, user: str, group: str) -> list[tuple[str, dt.date, Decimal]]:
    (days_low, days_high), (last_low, last_high), basket, refund_p = GROUPS[group]
    days = int(rng.integers(days_low, days_high + 1))
    last = int(rng.integers(last_low, last_high + 1))
    earlier = rng.choice(np.arange(last + 1, LOOKBACK_DAYS), size=days - 1, replace=False) if days > 1 else []
    whale = 1000.0 if rng.random() < WHALE_SHARE else 1.0
    rows = []
    for back in [last, *(int(b) for b in earlier)]:
        day = AS_OF - dt.timedelta(days=back)
        spent = basket * whale * float(rng.lognormal(0.0, 0.4))
        split = int(rng.integers(1, 3))  # one or two transactions on a purchase day
        for _ in range(split):
            rows.append((user, day, Decimal(f"{spent / split:.2f}")))
        if rng.random() < refund_p:
            rows.append((user, day, Decimal(f"{-spent * float(rng.uniform(0.3, 1.0)):.2f}")))
    if rng.random() < 0.3:  # history before the window: must not count
        rows.append((user, AS_OF - dt.timedelta(days=LOOKBACK_DAYS + int(rng.integers(1, 200))), Decimal("99.00")))
    return rows


def population(seed: int = 5) -> tuple[dict[str, str], list[str], list[tuple[str, dt.date, Decimal]]]:
    """(customer -> behaviour group, customer CSV lines with header, transactions)."""
    rng = np.random.default_rng(seed)
    groups, transactions = {}, []
    names = list(GROUPS)
    for g, name in enumerate(names):
        for i in range(PER_GROUP):
            user = f"b{g}{i:04d}"
            groups[user] = name
            transactions += _user_transactions(rng, user, name)
    for i in range(ORPHANS):
        transactions += _user_transactions(rng, f"orphan{i:03d}", names[i % len(names)])
    # Demographics from the generator's five demographic groups, whatever the behaviour.
    plan = generate.FilePlan(Path("unused"), 0, 1, generate.customer_file_size(len(groups) * 2), seed)
    lines = [line for chunk in generate._customer_chunks(plan) for line in chunk]
    valid = [line.split(",", 1)[1] for line in lines if _valid(line)][: len(groups)]
    order = rng.permutation(len(groups))
    users = list(groups)
    csv = [generate.CUSTOMER_HEADER, *(f"{users[j]},{valid[n]}" for n, j in enumerate(order))]
    return groups, csv, transactions


def _valid(line: str) -> bool:
    fields = line.split(",")
    if len(fields) != len(RAW_FIELDS):
        return False
    try:
        clean_customer(dict(zip(RAW_FIELDS, fields, strict=True)))
    except InvalidCustomerError:
        return False
    return True


def transactions_frame(spark: SparkSession, transactions: list[tuple[str, dt.date, Decimal]]) -> DataFrame:
    rows = [
        (f"t{n:06d}", user, dt.datetime.combine(day, dt.time(12)), day, amount, "gen", "b1", None)
        for n, (user, day, amount) in enumerate(transactions)
    ]
    return spark.createDataFrame(rows, TRANSACTIONS)


def adjusted_rand_index(truth: list, found: list) -> float:
    """Hubert and Arabie's adjusted Rand index of two labellings of the same items, exactly."""
    if len(truth) != len(found):
        raise ValueError("two labellings of the same items are needed")
    pairs = sum(comb(n, 2) for n in Counter(zip(truth, found, strict=True)).values())
    rows = sum(comb(n, 2) for n in Counter(truth).values())
    cols = sum(comb(n, 2) for n in Counter(found).values())
    total = comb(len(truth), 2)
    expected = rows * cols / total
    maximum = (rows + cols) / 2
    return 1.0 if maximum == expected else (pairs - expected) / (maximum - expected)
