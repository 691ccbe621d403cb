"""Score one customer against an exported segmentation model, in plain Python.

The real-time path of the mission (a Lambda behind API Gateway) has no Spark: this module
imports only the standard library, so it can ship alone (with `common/__init__.py`). The
training job writes `model.json` (see `common.segmentation.export_model`) next to the Spark
PipelineModel; `load_model(path).segment(record)` gives the segment Spark would give.

It is also the one plain-Python statement of the customer feature contract (field names,
ranges, category cleaning) that the Spark rules and pipeline import, so the two cannot drift.

    model = load_model("model.json")
    model.segment({"age": 34, "gender": "Female", "marital_status": "married",
                   "annual_income": 61000, "spending_score": 72})
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FORMAT = "customer-segmentation-kmeans/1"

CUSTOMER_ID = "customer_id"
NUMERIC_FEATURES: tuple[str, ...] = ("age", "annual_income", "spending_score")
CATEGORICAL_FEATURES: tuple[str, ...] = ("gender", "marital_status")
# The order the row rules check fields in (the CSV column order), so both report the same
# reason for a record with several problems.
FIELD_ORDER: tuple[str, ...] = ("age", "gender", "marital_status", "annual_income", "spending_score")

AGE_MIN, AGE_MAX = 0, 120
SPENDING_SCORE_MIN, SPENDING_SCORE_MAX = 1, 100

# Same meaning as common.rules.fields (a test pins the equality): Spark's rules use those.
WHITESPACE = " \t\r\n"
INTEGER_PATTERN = r"^[0-9]{1,9}$"
NUMBER_PATTERN = r"^[+-]?[0-9]{1,15}(\.[0-9]{1,9})?$"


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
    if value < 0:
        raise InvalidCustomerError("negative_annual_income", "annual_income is negative")
    return value


def clean_customer(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's features typed and cleaned as the Spark jobs do, or InvalidCustomerError.

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


@dataclass(frozen=True)
class NumericFeature:
    name: str
    mean: float
    std: float


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class SegmentModel:
    """Standardised numbers, weighted one-hot categories (unseen: all zeros), nearest centroid."""

    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]
    category_weight: float
    centroids: tuple[tuple[float, ...], ...]

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SegmentModel:
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} model document (format={doc.get('format')!r})")
        model = cls(
            numeric=tuple(NumericFeature(f["name"], float(f["mean"]), float(f["std"])) for f in doc["numeric"]),
            categorical=tuple(CategoricalFeature(f["name"], tuple(f["labels"])) for f in doc["categorical"]),
            category_weight=float(doc["category_weight"]),
            centroids=tuple(tuple(float(v) for v in centroid) for centroid in doc["centroids"]),
        )
        width = len(model.numeric) + sum(len(f.labels) for f in model.categorical)
        if not model.centroids or any(len(c) != width for c in model.centroids):
            raise ValueError(f"centroids must be non-empty vectors of {width} values")
        return model

    @property
    def k(self) -> int:
        return len(self.centroids)

    def features(self, customer: Mapping[str, Any]) -> list[float]:
        """The vector KMeans sees, computed as Spark's stages do (`(x - mean) * (1/std)`, then
        the one-hot columns times the category weight)."""
        vector = []
        for feature in self.numeric:
            scale = 1.0 / feature.std if feature.std != 0 else 0.0
            vector.append((float(customer[feature.name]) - feature.mean) * scale)
        for feature in self.categorical:
            vector.extend(
                1.0 * self.category_weight if customer[feature.name] == label else 0.0 for label in feature.labels
            )
        return vector

    def distances(self, record: Mapping[str, Any]) -> list[float]:
        """Squared Euclidean distance from the record to each centroid."""
        point = self.features(clean_customer(record))
        return [math.fsum((p - c) ** 2 for p, c in zip(point, centroid, strict=True)) for centroid in self.centroids]

    def segment(self, record: Mapping[str, Any]) -> int:
        """The nearest centroid's index (the first one on a tie, as Spark)."""
        distances = self.distances(record)
        return distances.index(min(distances))


def load_model(path: str | Path) -> SegmentModel:
    """Read a model document written by the training job (a local file; a Lambda would fetch
    it from S3 once per container and keep the SegmentModel)."""
    return SegmentModel.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def score(records: Sequence[Mapping[str, Any]], model: SegmentModel) -> list[int]:
    """Segments for a batch of records (e.g. one API request with several customers)."""
    return [model.segment(record) for record in records]
