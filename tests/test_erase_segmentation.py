"""Erasure on segmentation outputs built by the real jobs on the golden fixture: a training
output (Delta) and a batch scoring output (Parquet) lose the customers' predictions and
quarantined lines, the training's segment profiles are recomputed without the customers (the
model is left to the next training), and a rerun of the scoring does not bring the customers
back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from common import erasure
from common.segmentation import DEMOGRAPHIC, segment_profiles
from common.tables import read_table
from jobs import customer_segmentation, erase_users, segment_customers
from tests.golden import assert_table_equals, orderable

pytestmark = pytest.mark.slow

# A1 is a valid customer; X3 a quarantined line (age 121).
CUSTOMERS = ("A1", "X3")


def score_args(model: Path, inputs: Path, output: Path) -> list[str]:
    return ["--model", str(model), "--input", str(inputs), "--output", str(output), "--format", "parquet"]


@pytest.fixture(scope="module")
def roots(spark: SparkSession, fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("erase_segmentation")
    golden = fixtures / "customer_segmentation"
    trained = base / "trained"
    args = ["--input", str(golden / "input"), "--output", str(trained), "--k", "3", "--max-iter", "10"]
    customer_segmentation.run(spark, customer_segmentation.parse_args(args))
    inputs = base / "to_score"
    inputs.mkdir()
    for path in [*(golden / "input").glob("*.csv"), golden / "score" / "new-customers.csv"]:
        shutil.copy(path, inputs / path.name)
    scored = base / "scored"
    segment_customers.run(spark, segment_customers.parse_args(score_args(trained / "model", inputs, scored)))
    before = {
        root: {
            name: sorted(map(tuple, read_table(spark, str(root / name), fmt).collect()))
            for name in ("predictions", "quarantine", "segment_profiles")
            if (root / name).exists()
        }
        for root, fmt in ((trained, "delta"), (scored, "parquet"))
    }
    model = sorted(p.read_bytes() for p in (trained / "model").rglob("*") if p.is_file())
    # Copies held by the session: the erasure rewrites the tables they were read from.
    training = {
        name: read_table(spark, str(trained / name), "delta").localCheckpoint(eager=True)
        for name in ("predictions", "segment_profiles")
    }
    reports = {root: erase(spark, root) for root in (trained, scored)}
    return {
        "training": training,
        "trained": trained,
        "scored": scored,
        "inputs": inputs,
        "before": before,
        "reports": reports,
        "model": model,
    }


def erase(spark: SparkSession, root: Path) -> dict:
    argv = ["--root", str(root), *(x for c in (*CUSTOMERS, "ghost") for x in ("--user-id", c))]
    return erase_users.run(spark, erase_users.parse_args(argv))


def rows(spark: SparkSession, root: Path, name: str, fmt: str) -> list[tuple]:
    return sorted(map(tuple, read_table(spark, str(root / name), fmt).collect()))


def without(stored: list[tuple], customer_first: bool) -> list[tuple]:
    """Stored rows without the customers' (predictions: by id; quarantine: by the raw line's first field)."""
    if customer_first:
        return [r for r in stored if r[0] not in CUSTOMERS]
    return [r for r in stored if r[0].split(",")[0] not in CUSTOMERS]


@pytest.mark.parametrize(("root", "fmt"), [("trained", "delta"), ("scored", "parquet")])
def test_the_customers_predictions_and_quarantined_lines_are_gone(
    spark: SparkSession, roots: dict, root: str, fmt: str
) -> None:
    path, before = roots[root], roots["before"][roots[root]]
    report = roots["reports"][path]
    assert report["metrics"]["root"] == erase_users.SEGMENTATION_ROOT
    assert rows(spark, path, "predictions", fmt) == without(before["predictions"], True)
    assert len(before["predictions"]) - len(rows(spark, path, "predictions", fmt)) == 1
    assert rows(spark, path, "quarantine", fmt) == without(before["quarantine"], False)
    tables = report["tables"]
    assert tables["predictions"] == {"path": str(path / "predictions"), "format": fmt, "rows_removed": 1}
    assert (tables["quarantine"]["rows_removed"], tables["quarantine"]["token"]) == (1, 1)


def test_the_training_predictions_keep_what_its_profiles_aggregate(roots: dict) -> None:
    training = roots["training"]
    recomputed = segment_profiles(training["predictions"], DEMOGRAPHIC)
    assert_table_equals(orderable(recomputed), orderable(training["segment_profiles"]), approx=True)


def test_the_profiles_are_recomputed_without_the_customers(spark: SparkSession, roots: dict) -> None:
    trained = roots["trained"]
    left = roots["training"]["predictions"].filter(~F.col("customer_id").isin(*CUSTOMERS))
    actual = read_table(spark, str(trained / "segment_profiles"), "delta")
    assert_table_equals(orderable(actual), orderable(segment_profiles(left, DEMOGRAPHIC)), approx=True)
    assert sum(row["customers"] for row in actual.collect()) == 11  # 12 trained, A1 erased
    profiles = roots["reports"][trained]["tables"]["segment_profiles"]
    assert (profiles["recomputed"], profiles["customers_erased"], profiles["rows"]) == (True, 1, 3)
    assert "segment_profiles" not in roots["reports"][roots["scored"]]["tables"]  # scoring writes none


def test_the_model_is_left_to_the_next_training(roots: dict) -> None:
    trained = roots["trained"]
    assert sorted(p.read_bytes() for p in (trained / "model").rglob("*") if p.is_file()) == roots["model"]


def test_profiles_of_predictions_without_features_are_left_as_they_were(
    spark: SparkSession, roots: dict, tmp_path: Path
) -> None:
    """An output trained before the predictions kept the features: nothing to recompute from."""
    old = tmp_path / "old"
    shutil.copytree(roots["trained"], old)
    predictions = read_table(spark, str(old / "predictions"), "delta").select("customer_id", "segment")
    kept = predictions.localCheckpoint(eager=True)
    shutil.rmtree(old / "predictions")
    kept.write.format("delta").save(str(old / "predictions"))
    before = rows(spark, old, "segment_profiles", "delta")
    report = erase_users.run(spark, erase_users.parse_args(["--root", str(old), "--user-id", "B1"]))
    assert rows(spark, old, "segment_profiles", "delta") == before
    profiles = report["tables"]["segment_profiles"]
    assert (profiles["recomputed"], profiles["customers_erased"]) == (False, 1)
    assert profiles["reason"] == erase_users.PROFILES_NOT_RECOMPUTED


def test_a_rescoring_does_not_bring_the_customers_back(spark: SparkSession, roots: dict) -> None:
    scored = roots["scored"]
    args = score_args(roots["trained"] / "model", roots["inputs"], scored)
    report = segment_customers.run(spark, segment_customers.parse_args(args))
    assert report["metrics"]["erased"]["customers"] == {"erased_users": 3, "rows_dropped": 2}
    assert rows(spark, scored, "predictions", "parquet") == without(roots["before"][scored]["predictions"], True)
    quarantined = read_table(spark, str(scored / "quarantine"), "parquet")
    assert quarantined.filter(erasure.erased_line([erasure.user_hash(c) for c in CUSTOMERS])).count() == 0
    assert quarantined.filter(F.col("raw_record").startswith("X4,")).count() == 1  # others still quarantined


def test_the_delta_log_of_the_predictions_names_no_customer(roots: dict) -> None:
    """The predictions (ids and features) keep no statistics of customer_id, from their first commit."""
    log = "".join(p.read_text() for p in sorted((roots["trained"] / "predictions" / "_delta_log").glob("*.json")))
    assert '"add"' in log and '"stats"' in log
    assert not any(f'"{customer}"' in log for customer in CUSTOMERS)
