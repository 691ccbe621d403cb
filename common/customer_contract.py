"""The customer contract in plain Python: field names, patterns, ranges and categories of the
customer CSV, and the behaviour features derived from the warehouse.

Standard library only. The Spark side (`schemas.customers`, `common.rules.customers`,
`common.segmentation`, `common.behaviour`) and the real-time scorer (`common.segment_scorer`,
a Lambda without Spark) import this one module, so what a valid customer is, and what the
model's features are called, cannot drift between them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from common.patterns import INTEGER_PATTERN, NUMBER_PATTERN, WHITESPACE

__all__ = ["INTEGER_PATTERN", "NUMBER_PATTERN", "WHITESPACE"]  # re-exported: the scorer's callers use them

# The customer CSV, in header order.
CUSTOMER_ID = "customer_id"
RAW_FIELDS: tuple[str, ...] = ("customer_id", "age", "gender", "marital_status", "annual_income", "spending_score")
NUMERIC_FEATURES: tuple[str, ...] = ("age", "annual_income", "spending_score")
CATEGORICAL_FEATURES: tuple[str, ...] = ("gender", "marital_status")
# The order the row rules check fields in (the CSV column order), so both report the same
# reason for a record with several problems.
FIELD_ORDER: tuple[str, ...] = RAW_FIELDS[1:]

AGE_MIN, AGE_MAX = 0, 120
SPENDING_SCORE_MIN, SPENDING_SCORE_MAX = 1, 100
ANNUAL_INCOME_MIN = 0

# Behaviour, per customer, from the warehouse's transactions over the look-back window that
# ends on the as-of date (see `common.behaviour` and docs/jobs/customer_segmentation.md for the definitions).
RECENCY_DAYS = "recency_days"  # days from the last purchase day to the as-of date
FREQUENCY = "frequency"  # days with at least one purchase
MONETARY = "monetary"  # net spend: purchases minus refunds
AVG_BASKET = "avg_basket"  # purchases / purchase days: what a buying day is worth
REFUND_SHARE = "refund_share"  # refunded / (purchased + refunded), by amount
BEHAVIOUR_FEATURES: tuple[str, ...] = (RECENCY_DAYS, FREQUENCY, MONETARY, AVG_BASKET, REFUND_SHARE)
DEFAULT_LOOKBACK_DAYS = 365

# Money is heavy-tailed (a few customers spend thousands of times the median): these features
# go through a signed log1p before they are standardised (docs/jobs/customer_segmentation.md, "Skewed money").
LOG_SCALED: tuple[str, ...] = (MONETARY, AVG_BASKET)
SIGNED_LOG1P = "signed_log1p"

# Feature families: which inputs a model is trained on.
DEMOGRAPHICS = "demographics"
BEHAVIOUR = "behaviour"
FAMILIES: tuple[str, ...] = (DEMOGRAPHICS, BEHAVIOUR)


def no_transaction_values(lookback_days: int) -> dict[str, float | int]:
    """The behaviour of a customer without a purchase or refund in the window: last seen at
    least the whole window ago, nothing bought, nothing refunded."""
    return {RECENCY_DAYS: lookback_days, FREQUENCY: 0, MONETARY: 0.0, AVG_BASKET: 0.0, REFUND_SHARE: 0.0}


def signed_log1p(value: float) -> float:
    """sign(x) * ln(1 + |x|): the log's compression for a net spend that may be negative (a
    refund of a purchase made before the window), 0 at 0, and as Spark's
    `signum(x) * log1p(abs(x))` computes it."""
    return math.copysign(1.0, value) * math.log1p(abs(value)) if value else 0.0


class InvalidCustomerError(ValueError):
    """A record the contract rejects; `reason` is the quarantine reason Spark would give."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def clean_category(value: str) -> str:
    """Categories compare case-insensitively and without surrounding white space."""
    return value.strip(WHITESPACE).lower()


def _text(record: Mapping[str, Any], field: str) -> str:
    value = record.get(field)
    text = "" if value is None else str(value).strip(WHITESPACE)
    if not text:
        raise InvalidCustomerError(f"missing_{field}", f"{field} is absent, null or blank")
    return text


def _integer(record: Mapping[str, Any], field: str, low: int, high: int) -> int:
    text = _text(record, field)
    if not re.match(INTEGER_PATTERN, text) or not low <= int(text) <= high:
        raise InvalidCustomerError(f"invalid_{field}", f"{field} is not an integer from {low} to {high}")
    return int(text)


def _income(record: Mapping[str, Any]) -> float:
    text = _text(record, "annual_income")
    if not re.match(NUMBER_PATTERN, text):
        raise InvalidCustomerError("invalid_annual_income", "annual_income is not a plain decimal number")
    value = float(text)
    if value < ANNUAL_INCOME_MIN:
        raise InvalidCustomerError("negative_annual_income", "annual_income is negative")
    return value


def clean_customer(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's demographic features typed and cleaned as the Spark jobs do, or
    InvalidCustomerError.

    Numbers may arrive as JSON numbers or strings; either way they must be written as the CSV
    contract says (an age of 34.0 is as invalid here as in a file).
    """
    parsers = {
        "age": lambda: _integer(record, "age", AGE_MIN, AGE_MAX),
        "gender": lambda: clean_category(_text(record, "gender")),
        "marital_status": lambda: clean_category(_text(record, "marital_status")),
        "annual_income": lambda: _income(record),
        "spending_score": lambda: _integer(record, "spending_score", SPENDING_SCORE_MIN, SPENDING_SCORE_MAX),
    }
    return {field: parsers[field]() for field in FIELD_ORDER}


def behaviour_ranges(lookback_days: int) -> dict[str, tuple[float | None, float | None]]:
    """Each behaviour feature's (min, max), None for unbounded, for a window of `lookback_days`."""
    return {
        RECENCY_DAYS: (0, lookback_days),
        FREQUENCY: (0, lookback_days),
        MONETARY: (None, None),
        AVG_BASKET: (0, None),
        REFUND_SHARE: (0, 1),
    }


def _behaviour_number(
    record: Mapping[str, Any], field: str, whole: bool, low: float | None, high: float | None
) -> float:
    value = record.get(field)
    if value is None or (isinstance(value, str) and not value.strip(WHITESPACE)):
        raise InvalidCustomerError(f"missing_{field}", f"{field} is absent, null or blank")
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | float):
        number = float(value) if math.isfinite(value) and (not whole or float(value).is_integer()) else None
    else:
        text = str(value).strip(WHITESPACE)
        number = float(text) if re.match(INTEGER_PATTERN if whole else NUMBER_PATTERN, text) else None
    if number is None or (low is not None and number < low) or (high is not None and number > high):
        kind = "a whole number" if whole else "a number"
        bounds = f" from {low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
        raise InvalidCustomerError(f"invalid_{field}", f"{field} is not {kind}{bounds}")
    return number


def clean_behaviour(record: Mapping[str, Any], lookback_days: int) -> dict[str, float]:
    """The record's behaviour features, checked against the ranges the derivation produces
    for this window, or InvalidCustomerError. JSON numbers or plain numeric strings; recency
    and frequency are whole numbers."""
    ranges = behaviour_ranges(lookback_days)
    whole = {RECENCY_DAYS, FREQUENCY}
    return {field: _behaviour_number(record, field, field in whole, *ranges[field]) for field in BEHAVIOUR_FEATURES}
