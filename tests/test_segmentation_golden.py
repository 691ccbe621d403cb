"""Training and batch scoring on the golden fixture: three well separated groups of four
customers (ids A*, B*, C*), a bad line of every kind, then new customers scored with the
saved model, by Spark and by the plain-Python scorer from model.json."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from pathlib import Path

import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from common.customer_contract import DEMOGRAPHICS
from common.segment_scorer import InvalidCustomerError, load_model
from common.tables import read_table
from jobs import customer_segmentation, segment_customers
from schemas.customers import SEGMENT_PROFILES, training_predictions_schema
from schemas.quarantine import QUARANTINE
from tests.golden import assert_table_equals, file_name_only, orderable, read_expected, relabelled, relabelling

pytestmark = pytest.mark.slow

# A demographic model's predictions: each customer's segment and typed features.
TRAINING_PREDICTIONS = training_predictions_schema([DEMOGRAPHICS])


@pytest.fixture(scope="module")
def golden(fixtures: Path) -> Path:
    return fixtures / "customer_segmentation"


@pytest.fixture(scope="module")
def trained(spark: SparkSession, golden: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("segmentation") / "out"
    args = ["--input", str(golden / "input"), "--output", str(output), "--k", "3", "--max-iter", "10"]
    report = customer_segmentation.run(spark, customer_segmentation.parse_args(args))
    return output, report


@pytest.fixture(scope="module")
def training_segments(spark: SparkSession, trained) -> dict[str, int]:
    output, _ = trained
    return {r.customer_id: r.segment for r in read_table(spark, str(output / "predictions"), "delta").collect()}


@pytest.fixture(scope="module")
def relabel(training_segments: dict[str, int]) -> dict[int, int]:
    return relabelling(training_segments)


@pytest.fixture(scope="module")
def scored(spark: SparkSession, golden: Path, trained, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The saved model scores the training files again plus new customers (Parquet output)."""
    output, _ = trained
    inputs = tmp_path_factory.mktemp("to_score")
    for path in [*(golden / "input").glob("*.csv"), golden / "score" / "new-customers.csv"]:
        shutil.copy(path, inputs / path.name)
    scored_out = inputs.parent / "scored"
    args = ["--model", str(output / "model"), "--input", str(inputs), "--output", str(scored_out)]
    report = segment_customers.run(spark, segment_customers.parse_args([*args, "--format", "parquet"]))
    return scored_out, report


def test_segments_are_the_known_groups_up_to_relabelling(training_segments: dict[str, int]) -> None:
    members: dict[int, set[str]] = {}
    for customer, segment in training_segments.items():
        members.setdefault(segment, set()).add(customer)
    assert sorted(sorted(m) for m in members.values()) == [
        ["A1", "A2", "A3", "A4"],
        ["B1", "B2", "B3", "B4"],
        ["C1", "C2", "C3", "C4"],
    ]


def test_profiles_match_golden_file(spark: SparkSession, golden: Path, trained, relabel) -> None:
    output, _ = trained
    actual = relabelled(read_table(spark, str(output / "segment_profiles"), "delta"), relabel)
    expected = read_expected(spark, golden / "expected" / "segment_profiles.jsonl", SEGMENT_PROFILES)
    assert_table_equals(orderable(actual), orderable(expected), approx=True)


def test_predictions_match_golden_file(spark: SparkSession, golden: Path, trained, relabel) -> None:
    output, _ = trained
    actual = relabelled(read_table(spark, str(output / "predictions"), "delta"), relabel)
    expected = read_expected(spark, golden / "expected" / "predictions.jsonl", TRAINING_PREDICTIONS)
    assert_table_equals(actual, expected)


def test_quarantine_matches_golden_file(spark: SparkSession, golden: Path, trained) -> None:
    output, _ = trained
    actual = file_name_only(read_table(spark, str(output / "quarantine"), "delta"))
    assert_table_equals(actual, read_expected(spark, golden / "expected" / "quarantine.jsonl", QUARANTINE))


@pytest.mark.parametrize(
    ("table", "schema"),
    [("predictions", TRAINING_PREDICTIONS), ("segment_profiles", SEGMENT_PROFILES), ("quarantine", QUARANTINE)],
)
def test_table_columns_are_the_contract(spark: SparkSession, trained, table: str, schema) -> None:
    output, _ = trained
    written = read_table(spark, str(output / table), "delta").schema
    assert [(f.name, f.dataType) for f in written.fields] == [(f.name, f.dataType) for f in schema.fields]


def test_report_accounts_for_every_line(trained) -> None:
    output, report = trained
    on_disk = json.loads((output / "run_report.json").read_text())
    assert on_disk == json.loads(json.dumps(report, default=str))
    assert (on_disk["rows_read"], on_disk["rows_valid"], on_disk["rows_quarantined"]) == (26, 12, 14)
    assert on_disk["quarantined_by_reason"] == {
        "blank_line": 1,
        "duplicate_customer_id": 2,
        "invalid_age": 1,
        "invalid_annual_income": 1,
        "invalid_spending_score": 1,
        "malformed_csv": 1,
        "missing_age": 1,
        "missing_annual_income": 1,
        "missing_customer_id": 1,
        "missing_gender": 1,
        "missing_marital_status": 1,
        "missing_spending_score": 1,
        "negative_annual_income": 1,
    }
    assert {name: t["rows"] for name, t in on_disk["tables"].items()} == {
        "quarantine": 14,
        "predictions": 12,
        "segment_profiles": 3,
    }
    assert set(on_disk["validation"]) == {"predictions", "segment_profiles"}
    assert all(suite["success"] and not suite["failed"] for suite in on_disk["validation"].values())
    assert all(on_disk["metrics"]["reconciliation"].values())


def test_metrics_hold_k_silhouette_and_training_time(trained) -> None:
    output, report = trained
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics == report["metrics"]["model"]
    assert (metrics["k"], metrics["k_tried"], metrics["seed"], metrics["rows_trained"]) == (3, [3], 1, 12)
    assert metrics["category_weight"] == 0.5
    # Groups far apart, but their members differ in gender or marital status: high, not 1.
    assert 0.7 < metrics["silhouette_by_k"]["3"] < 1
    assert metrics["training_seconds"] > 0 and set(metrics["training_seconds_by_k"]) == {"3"}


def test_model_json_holds_the_fitted_parameters(trained) -> None:
    """Means and (sample) standard deviations recomputed here from the fixture's values."""
    output, _ = trained
    doc = json.loads((output / "model.json").read_text())
    ages = [21, 23, 25, 23, 44, 46, 45, 45, 64, 66, 65, 65]
    incomes = [18000, 22000, 20000, 24000, 58000, 62000, 60000.5, 59999.5, 120000, 130000, 125000, 125000]
    scores = [90, 86, 94, 90, 50, 48, 52, 50, 10, 12, 8, 10]
    numeric = {f["name"]: (f["mean"], f["std"]) for f in doc["numeric"]}
    for name, values in (("age", ages), ("annual_income", incomes), ("spending_score", scores)):
        assert numeric[name] == pytest.approx((statistics.mean(values), statistics.stdev(values)), rel=1e-12)
    assert {f["name"]: f["labels"] for f in doc["categorical"]} == {
        "gender": ["female", "male"],
        "marital_status": ["married", "single", "widowed"],
    }
    assert doc["category_weight"] == 0.5
    assert doc["k"] == 3 and len(doc["centroids"]) == 3 and all(len(c) == 3 + 2 + 3 for c in doc["centroids"])


def test_saved_model_loads_with_the_exported_centroids(trained) -> None:
    output, _ = trained
    loaded = PipelineModel.load(str(output / "model"))
    centers = [list(c) for c in loaded.stages[-1].clusterCenters()]
    assert centers == json.loads((output / "model.json").read_text())["centroids"]


def test_batch_scoring_gives_training_customers_their_training_segment(
    spark: SparkSession, scored, training_segments: dict[str, int]
) -> None:
    output, _ = scored
    segments = {r.customer_id: r.segment for r in read_table(spark, str(output / "predictions"), "parquet").collect()}
    assert {c: s for c, s in segments.items() if c in training_segments} == training_segments


def test_batch_scoring_places_new_customers_including_unseen_categories(
    spark: SparkSession, scored, training_segments: dict[str, int]
) -> None:
    output, _ = scored
    segments = {r.customer_id: r.segment for r in read_table(spark, str(output / "predictions"), "parquet").collect()}
    # N4's gender (nonbinary) and N5's marital status (separated) were never seen in training.
    expected_group = {"N1": "A1", "N2": "B1", "N3": "C1", "N4": "A1", "N5": "B1"}
    assert {n: segments[n] for n in expected_group} == {n: training_segments[g] for n, g in expected_group.items()}


def test_batch_scoring_quarantines_and_reports(scored) -> None:
    output, report = scored
    assert json.loads((output / "run_report.json").read_text())["run_id"] == report["run_id"]
    assert (report["rows_read"], report["rows_valid"], report["rows_quarantined"]) == (33, 17, 16)
    assert report["quarantined_by_reason"]["invalid_age"] == 2  # X3 and N6
    assert report["quarantined_by_reason"]["negative_annual_income"] == 2  # X8 and N7
    assert {n: t["rows"] for n, t in report["tables"].items()} == {"quarantine": 16, "predictions": 17}
    assert report["metrics"]["model"]["k"] == 3
    assert sum(report["metrics"]["customers_by_segment"].values()) == 17
    assert all(suite["success"] for suite in report["validation"].values())


def test_python_scorer_agrees_with_spark_on_every_row(spark: SparkSession, golden: Path, trained, scored) -> None:
    """Every line of every input file: same segment as Spark, or rejected when Spark quarantined it."""
    output, _ = trained
    model = load_model(output / "model.json")
    spark_segments = {
        r.customer_id: r.segment for r in read_table(spark, str(scored[0] / "predictions"), "parquet").collect()
    }
    checked = 0
    for path in [*sorted((golden / "input").glob("*.csv")), golden / "score" / "new-customers.csv"]:
        with open(path, encoding="utf-8-sig", newline="") as lines:
            for record in csv.DictReader(lines):
                customer = record["customer_id"]
                if customer in spark_segments:
                    assert model.segment(record) == spark_segments[customer], customer
                    checked += 1
                elif None in record.values() or None in record or customer in {"", "D1"}:
                    continue  # malformed line, missing id or duplicate: judged per file, not per record
                else:
                    with pytest.raises(InvalidCustomerError):
                        model.segment(record)
    assert checked == 17
