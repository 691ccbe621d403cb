"""The customers generator: deterministic, exact row counts, the contract's header, mostly
valid lines with a few bad ones of several kinds."""

from __future__ import annotations

import csv
from pathlib import Path

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
