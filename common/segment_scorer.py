"""Score one customer against an exported segmentation model, in plain Python.

The real-time path of the mission (a Lambda behind API Gateway) has no Spark: this module
imports only the standard library, so it can ship alone (with `common/__init__.py`,
`common/customer_contract.py` and `common/patterns.py`). The training job writes
`model.json` (see `common.segmentation.export_model`) next to the Spark PipelineModel;
`load_model(path).segment(record)` gives the segment Spark would give.

The contract (field names, patterns, ranges, categories) is `common.customer_contract`, which
the Spark rules import too. A model trained on behaviour wants the behaviour features in the
record, as the training job derived them (`common.behaviour`).

    model = load_model("model.json")
    model.segment({"age": 34, "gender": "Female", "marital_status": "married",
                   "annual_income": 61000, "spending_score": 72})
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.customer_contract import (
    AGE_MAX,
    AGE_MIN,
    BEHAVIOUR,
    CATEGORICAL_FEATURES,
    CUSTOMER_ID,
    DEMOGRAPHICS,
    FAMILIES,
    FIELD_ORDER,
    INTEGER_PATTERN,
    NUMBER_PATTERN,
    NUMERIC_FEATURES,
    SIGNED_LOG1P,
    SPENDING_SCORE_MAX,
    SPENDING_SCORE_MIN,
    WHITESPACE,
    InvalidCustomerError,
    clean_behaviour,
    clean_category,
    clean_customer,
    signed_log1p,
)

__all__ = [
    "AGE_MAX",
    "AGE_MIN",
    "CATEGORICAL_FEATURES",
    "CUSTOMER_ID",
    "FIELD_ORDER",
    "INTEGER_PATTERN",
    "MODEL_FORMAT",
    "NUMBER_PATTERN",
    "NUMERIC_FEATURES",
    "SPENDING_SCORE_MAX",
    "SPENDING_SCORE_MIN",
    "WHITESPACE",
    "InvalidCustomerError",
    "SegmentModel",
    "clean_category",
    "clean_customer",
    "load_model",
    "score",
]

# Version 1 documents without `families` are demographic models (all that existed then);
# the fields added since (`families`, `lookback_days`, per-feature `weight` and `transform`)
# are optional and default to what those models did.
MODEL_FORMAT = "customer-segmentation-kmeans/1"
TRANSFORMS = {None: lambda value: value, SIGNED_LOG1P: signed_log1p}


@dataclass(frozen=True)
class NumericFeature:
    """A standardised number: `transform` (None or "signed_log1p") applied first, then
    `(x - mean) * (1/std)`, then times `weight` (its family's)."""

    name: str
    mean: float
    std: float
    weight: float = 1.0
    transform: str | None = None


@dataclass(frozen=True)
class CategoricalFeature:
    """One-hot over `labels` (an unseen category: all zeros), each column times `weight`."""

    name: str
    labels: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class SegmentModel:
    """Standardised numbers, weighted one-hot categories (unseen: all zeros), nearest centroid.

    `families` says which inputs a record must carry: demographics (the CSV's fields),
    behaviour (the features derived over a window of `lookback_days`), or both.
    """

    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]
    category_weight: float
    centroids: tuple[tuple[float, ...], ...]
    families: tuple[str, ...] = (DEMOGRAPHICS,)
    lookback_days: int | None = None

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SegmentModel:
        if doc.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} model document (format={doc.get('format')!r})")
        category_weight = float(doc["category_weight"])
        families = tuple(doc.get("families", (DEMOGRAPHICS,)))
        if not families or not set(families) <= set(FAMILIES):
            raise ValueError(f"families must be some of {list(FAMILIES)}, got {list(families)}")
        lookback = doc.get("lookback_days")
        if BEHAVIOUR in families and not (isinstance(lookback, int) and lookback > 0):
            raise ValueError(f"a behaviour model needs a positive whole lookback_days, got {lookback!r}")
        model = cls(
            numeric=tuple(
                NumericFeature(
                    f["name"], float(f["mean"]), float(f["std"]), float(f.get("weight", 1.0)), f.get("transform")
                )
                for f in doc["numeric"]
            ),
            categorical=tuple(
                CategoricalFeature(f["name"], tuple(f["labels"]), float(f.get("weight", category_weight)))
                for f in doc["categorical"]
            ),
            category_weight=category_weight,
            centroids=tuple(tuple(float(v) for v in centroid) for centroid in doc["centroids"]),
            families=families,
            lookback_days=lookback,
        )
        unknown = {f.transform for f in model.numeric} - set(TRANSFORMS)
        if unknown:
            raise ValueError(f"unknown feature transform(s) {sorted(unknown)}: this scorer knows {SIGNED_LOG1P}")
        width = len(model.numeric) + sum(len(f.labels) for f in model.categorical)
        if not model.centroids or any(len(c) != width for c in model.centroids):
            raise ValueError(f"centroids must be non-empty vectors of {width} values")
        return model

    @property
    def k(self) -> int:
        return len(self.centroids)

    def clean(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record's features, typed and checked by the contract, or InvalidCustomerError.
        Demographics are checked first, in CSV column order, then behaviour."""
        cleaned: dict[str, Any] = {}
        if DEMOGRAPHICS in self.families:
            cleaned.update(clean_customer(record))
        if BEHAVIOUR in self.families:
            cleaned.update(clean_behaviour(record, self.lookback_days or 0))
        return cleaned

    def features(self, customer: Mapping[str, Any]) -> list[float]:
        """The vector KMeans sees, computed as Spark's stages do: the transform (SQL), then
        `(x - mean) * (1/std)` (StandardScaler), then times the weight (ElementwiseProduct);
        one-hot columns are 1.0 times their weight."""
        vector = []
        for feature in self.numeric:
            scale = 1.0 / feature.std if feature.std != 0 else 0.0
            value = TRANSFORMS[feature.transform](float(customer[feature.name]))
            vector.append((value - feature.mean) * scale * feature.weight)
        for feature in self.categorical:
            vector.extend(1.0 * feature.weight if customer[feature.name] == label else 0.0 for label in feature.labels)
        return vector

    def distances(self, record: Mapping[str, Any]) -> list[float]:
        """Squared Euclidean distance from the record to each centroid."""
        point = self.features(self.clean(record))
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
