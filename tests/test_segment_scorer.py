"""The plain-Python scorer on hand-made model documents: the arithmetic Spark's stages do,
unseen categories, ties, bad documents, and no Spark import (a Lambda has none)."""

from __future__ import annotations

import math
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


BEHAVIOUR_DOC = {
    "format": MODEL_FORMAT,
    "families": ["behaviour"],
    "lookback_days": 90,
    "category_weight": 1.0,
    "numeric": [
        {"name": "recency_days", "mean": 10.0, "std": 5.0, "weight": 0.5},
        {"name": "frequency", "mean": 4.0, "std": 2.0, "weight": 0.5},
        {"name": "monetary", "transform": "signed_log1p", "mean": 4.0, "std": 2.0, "weight": 0.5},
        {"name": "avg_basket", "transform": "signed_log1p", "mean": 3.0, "std": 1.0, "weight": 0.5},
        {"name": "refund_share", "mean": 0.1, "std": 0.0, "weight": 0.5},
    ],
    "categorical": [],
    "centroids": [[0.0] * 5, [1.0] * 5],
}
BEHAVIOUR = {"recency_days": 20, "frequency": "6", "monetary": -0.5, "avg_basket": 19.0855369232, "refund_share": 0.4}


def test_behaviour_features_are_transformed_standardised_and_weighted() -> None:
    model = SegmentModel.from_dict(BEHAVIOUR_DOC)
    features = model.features(model.clean(BEHAVIOUR))
    expected = [
        (20 - 10) / 5 * 0.5,
        (6 - 4) / 2 * 0.5,
        (-math.log1p(0.5) - 4) / 2 * 0.5,  # the sign of a net refund survives the log
        (math.log1p(19.0855369232) - 3) * 0.5,
        0.0,  # constant in training
    ]
    assert features == pytest.approx(expected, rel=1e-12)
    assert model.segment(BEHAVIOUR) == 0
    assert model.segment({**BEHAVIOUR, "recency_days": 40, "frequency": 12}) == 1


def test_a_behaviour_model_needs_behaviour_and_no_demographics() -> None:
    model = SegmentModel.from_dict(BEHAVIOUR_DOC)
    assert model.segment(BEHAVIOUR) == 0  # no age, gender... needed
    with pytest.raises(InvalidCustomerError, match="missing_frequency"):
        model.segment({**BEHAVIOUR, "frequency": None})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"recency_days": 91}, "invalid_recency_days"),  # beyond the model's look-back
        ({"recency_days": 2.5}, "invalid_recency_days"),
        ({"frequency": "3.0"}, "invalid_frequency"),
        ({"frequency": -1}, "invalid_frequency"),
        ({"monetary": "1e3"}, "invalid_monetary"),
        ({"monetary": float("nan")}, "invalid_monetary"),
        ({"avg_basket": -1}, "invalid_avg_basket"),
        ({"refund_share": 1.5}, "invalid_refund_share"),
        ({"refund_share": True}, "invalid_refund_share"),
        ({"refund_share": " "}, "missing_refund_share"),
    ],
)
def test_behaviour_outside_what_the_derivation_gives_is_refused(change: dict, reason: str) -> None:
    model = SegmentModel.from_dict(BEHAVIOUR_DOC)
    with pytest.raises(InvalidCustomerError) as error:
        model.segment({**BEHAVIOUR, **change})
    assert error.value.reason == reason


def test_a_combined_model_checks_demographics_first() -> None:
    doc = {
        **DOC,
        "families": ["demographics", "behaviour"],
        "lookback_days": 90,
        "numeric": DOC["numeric"] + BEHAVIOUR_DOC["numeric"],
        "centroids": [c[:3] + [0.0] * 5 + c[3:] for c in DOC["centroids"]],
    }
    model = SegmentModel.from_dict(doc)
    assert model.segment({**CUSTOMER, **BEHAVIOUR}) == 0
    with pytest.raises(InvalidCustomerError, match="invalid_age"):
        model.segment({**CUSTOMER, **BEHAVIOUR, "age": "x", "frequency": None})
    with pytest.raises(InvalidCustomerError, match="missing_recency_days"):
        model.segment(CUSTOMER)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"families": ["behaviour"], "lookback_days": None}, "needs a positive whole lookback_days"),
        ({"families": ["income"]}, "families must be some of"),
        ({"numeric": [{**DOC["numeric"][0], "transform": "sqrt"}, *DOC["numeric"][1:]]}, "unknown feature transform"),
    ],
)
def test_a_document_with_an_unknown_feature_set_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SegmentModel.from_dict({**DOC, **change})
