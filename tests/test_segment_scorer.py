"""The plain-Python scorer on hand-made model documents: the arithmetic Spark's stages do,
unseen categories, ties, bad documents, and no Spark import (a Lambda has none)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from common.segment_scorer import MODEL_FORMAT, InvalidCustomerError, SegmentModel, clean_customer

DOC = {
    "format": MODEL_FORMAT,
    "numeric": [
        {"name": "age", "mean": 40.0, "std": 10.0},
        {"name": "annual_income", "mean": 50_000.0, "std": 20_000.0},
        {"name": "spending_score", "mean": 50.0, "std": 0.0},  # constant in training
    ],
    "categorical": [
        {"name": "gender", "labels": ["female", "male"]},
        {"name": "marital_status", "labels": ["married", "single"]},
    ],
    "category_weight": 0.5,
    "centroids": [[-1.0, -1.0, 0.0, 0.5, 0.0, 0.0, 0.5], [1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.0]],
}
CUSTOMER = {"age": 30, "gender": " Female ", "marital_status": "SINGLE", "annual_income": 30000, "spending_score": 7}


def test_features_are_standardised_numbers_then_weighted_one_hot_categories() -> None:
    model = SegmentModel.from_dict(DOC)
    # (30-40)/10, (30000-50000)/20000, constant score -> 0, female, single.
    assert model.features(clean_customer(CUSTOMER)) == [-1.0, -1.0, 0.0, 0.5, 0.0, 0.0, 0.5]
    assert model.segment(CUSTOMER) == 0
    assert model.segment({**CUSTOMER, "age": "50", "annual_income": "70000.00"}) == 1


def test_unseen_category_is_all_zeros_and_still_scored() -> None:
    model = SegmentModel.from_dict(DOC)
    record = {**CUSTOMER, "gender": "nonbinary", "marital_status": "separated"}
    assert model.features(clean_customer(record))[3:] == [0.0, 0.0, 0.0, 0.0]
    assert model.segment(record) == 0


def test_a_tie_goes_to_the_first_centroid() -> None:
    model = SegmentModel.from_dict({**DOC, "centroids": [[0.0] * 7, [0.0] * 7]})
    assert model.segment(CUSTOMER) == 0


def test_numbers_may_be_json_numbers_or_strings_but_must_follow_the_contract() -> None:
    assert clean_customer({**CUSTOMER, "age": "30", "annual_income": 30000.5})["annual_income"] == 30000.5
    with pytest.raises(InvalidCustomerError, match="invalid_age"):
        clean_customer({**CUSTOMER, "age": 30.0})
    with pytest.raises(InvalidCustomerError, match="missing_gender"):
        clean_customer({k: v for k, v in CUSTOMER.items() if k != "gender"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "not a customer-segmentation-kmeans/1 model document"),
        ({"centroids": [[0.0] * 6]}, "centroids must be non-empty vectors of 7 values"),
        ({"centroids": []}, "centroids must be non-empty vectors of 7 values"),
    ],
)
def test_a_document_that_is_not_a_model_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SegmentModel.from_dict({**DOC, **change})


def test_the_scorer_imports_no_spark() -> None:
    code = "import sys, common.segment_scorer; print(sorted(m for m in sys.modules if 'spark' in m or 'py4j' in m))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
