"""The customers generator: deterministic, exact row counts, the contract's header, mostly
valid lines with a few bad ones of several kinds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from common.segment_scorer import InvalidCustomerError, clean_customer
from tools import generate


def test_same_seed_same_bytes_and_exact_row_count(tmp_path: Path) -> None:
    size = generate.customer_file_size(3_000)
    first = generate.generate("customers", tmp_path / "a", size=size * 2, seed=5, files=2)
    second = generate.generate("customers", tmp_path / "b", size=size * 2, seed=5, files=2)
    other = generate.generate("customers", tmp_path / "c", size=size * 2, seed=6, files=2)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert [p.read_bytes() for p in first] != [p.read_bytes() for p in other]
    for path in first:
        lines = path.read_text().splitlines()
        assert lines[0] == generate.CUSTOMER_HEADER and len(lines) == 1 + 3_000


def test_customers_are_mostly_valid_with_some_bad_lines(tmp_path: Path) -> None:
    [path] = generate.generate("customers", tmp_path, size=generate.customer_file_size(20_000), seed=1, files=1)
    reasons: dict[str, int] = {}
    with open(path, newline="") as lines:
        for record in csv.DictReader(lines):
            try:
                clean_customer(record)
            except InvalidCustomerError as error:  # a short line's missing fields count as missing
                reasons[error.reason] = reasons.get(error.reason, 0) + 1
    bad = sum(reasons.values())
    assert 20_000 * 0.002 < bad < 20_000 * 0.01
    assert {"missing_age", "invalid_age", "negative_annual_income", "invalid_spending_score"} <= set(reasons)


def test_customers_and_transactions_share_ids_and_groups_shape_spend(tmp_path: Path) -> None:
    """Customer n is user n of the transactions, and its group's spending shows in its baskets."""
    customers = generate.generate("customers", tmp_path / "c", size=generate.customer_file_size(2_000), seed=7, files=2)
    [transactions] = generate.generate("transactions", tmp_path / "t", size=600_000, seed=7, files=1)
    ids = [line.split(",", 1)[0] for path in customers for line in path.read_text().splitlines()[1:]]
    assert ids[:2] == ["u000000", "u000001"] and ids[1_000] == "u001000"  # one sequence over the files
    spend: dict[str, list[float]] = {}
    for line in transactions.read_text().splitlines():
        try:
            record = json.loads(line)
            user, amount = record["user_id"], float(record["amount"])
        except (ValueError, KeyError, TypeError):
            continue  # the generator's bad lines
        if amount > 0:
            spend.setdefault(user, []).append(amount)
    assert len(set(ids) & set(spend)) > 500  # many customers have transactions
    users = np.array([int(user[1:]) for user in spend])
    groups = generate.customer_group(users)
    by_group = {g: [a for u, gu in zip(spend, groups, strict=True) if gu == g for a in spend[u]] for g in (1, 2)}
    median = {g: np.median(amounts) for g, amounts in by_group.items()}
    assert median[1] > 2 * median[2]  # affluent spenders (score 82) buy bigger baskets than careful earners (18)
