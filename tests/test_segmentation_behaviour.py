"""Golden behaviour segmentation: a generated population with four known behaviour groups and
demographics drawn regardless of the group (tests/behaviour_population.py), in a real Delta
warehouse. The jobs recover the groups from behaviour (adjusted Rand index >= 0.9), not from
demographics (< 0.5); the plain-Python scorer, given behaviour computed here in plain Python
from the same transactions, gives Spark's segment for every customer; batch scoring repeats
training's segments; without the log of money a few whales take segments of their own."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from common.behaviour import Window, derive_behaviour, read_transactions
from common.customer_contract import BEHAVIOUR_FEATURES, RAW_FIELDS, SIGNED_LOG1P
from common.errors import InputError
from common.segment_scorer import load_model
from common.segmentation import FeatureSet, fit_segmentation, predict
from common.tables import read_table, write_table
from jobs import customer_segmentation, segment_customers
from schemas.customers import segment_profiles_schema
from tests import behaviour_population as pop
from tests.cli import error_line

pytestmark = pytest.mark.slow

# Four restarts: Spark's KMeans starts once, and with demographics beside behaviour a single
# start lands in a poor local optimum for some seeds (docs/jobs/customer_segmentation.md, "Choosing k").
K = ["--k", "4", "--seed", "1", "--max-iter", "20", "--restarts", "4", "--lookback-days", str(pop.LOOKBACK_DAYS)]


@pytest.fixture(scope="module")
def data(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict:
    groups, csv, transactions = pop.population()
    root = tmp_path_factory.mktemp("behaviour_golden")
    (root / "customers").mkdir()
    (root / "customers" / "customers.csv").write_text("\n".join(csv) + "\n")
    # Partitioned by day as the ETL writes it, one file per day (every scan of the warehouse
    # opens each file: fewer of them, faster scans, the same rows).
    frame = pop.transactions_frame(spark, transactions).repartition(1)
    write_table(frame, str(root / "warehouse" / "transactions"), "delta", ["transaction_date"])
    truth = {**groups, **{f"orphan{i:03d}": list(pop.GROUPS)[i % 4] for i in range(pop.ORPHANS)}}
    return {"root": root, "groups": groups, "truth": truth, "csv": csv, "transactions": transactions}


def train(spark: SparkSession, data: dict, name: str, *sources: str) -> tuple[Path, dict]:
    output = data["root"] / name
    args = [*sources, "--output", str(output), *K]
    return output, customer_segmentation.run(spark, customer_segmentation.parse_args(args))


@pytest.fixture(scope="module")
def behaviour_only(spark: SparkSession, data: dict) -> tuple[Path, dict]:
    return train(spark, data, "behaviour", "--warehouse", str(data["root"] / "warehouse"))


@pytest.fixture(scope="module")
def both(spark: SparkSession, data: dict) -> tuple[Path, dict]:
    sources = ["--input", str(data["root"] / "customers"), "--warehouse", str(data["root"] / "warehouse")]
    return train(spark, data, "both", *sources)


def segments(spark: SparkSession, output: Path, fmt: str = "delta") -> dict[str, int]:
    return {r.customer_id: r.segment for r in read_table(spark, str(output / "predictions"), fmt).collect()}


def ari(truth: dict[str, str], found: dict[str, int]) -> float:
    ids = sorted(found)
    return pop.adjusted_rand_index([truth[i] for i in ids], [found[i] for i in ids])


def test_exact_adjusted_rand_index() -> None:
    assert pop.adjusted_rand_index([0, 0, 1, 1], [5, 5, 7, 7]) == 1.0  # labels are names, not numbers
    assert pop.adjusted_rand_index([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2]) == pytest.approx(4 / 9)
    assert pop.adjusted_rand_index([0, 0, 0, 1, 1, 1], [0, 1, 0, 1, 0, 1]) < 0


def test_behaviour_alone_recovers_the_groups_of_every_warehouse_user(spark: SparkSession, data, behaviour_only) -> None:
    found = segments(spark, behaviour_only[0])
    assert set(found) == set(data["truth"])  # every warehouse user, the customer-less ones included
    assert ari(data["truth"], found) >= 0.9


def test_behaviour_with_demographics_recovers_them_and_demographics_alone_do_not(
    spark: SparkSession, data, both
) -> None:
    found = segments(spark, both[0])
    assert set(found) == set(data["groups"])  # the customers: users without a row are not segmented
    assert ari(data["groups"], found) >= 0.9
    demographic, _ = train(spark, data, "demographics", "--input", str(data["root"] / "customers"))
    assert ari(data["groups"], segments(spark, demographic)) < 0.5


def in_window(data: dict, as_of: dt.date) -> list[tuple[str, dt.date, Decimal]]:
    first = as_of - dt.timedelta(days=pop.LOOKBACK_DAYS - 1)
    return [t for t in data["transactions"] if first <= t[1] <= as_of]


def test_the_report_accounts_for_users_without_a_customer_row(data, both, behaviour_only) -> None:
    _, report = both
    figures = report["metrics"]["behaviour"]
    as_of = dt.date.fromisoformat(figures["as_of"])
    assert as_of == max(t[1] for t in data["transactions"]) == pop.AS_OF
    window = in_window(data, as_of)
    orphans = [t for t in window if t[0].startswith("orphan")]
    assert figures == {
        "warehouse": str(data["root"] / "warehouse"),
        "as_of": "2026-11-30",
        "lookback_days": pop.LOOKBACK_DAYS,
        "first_day": "2026-09-02",
        "users": len(data["truth"]),
        "transactions_in_window": len(window),
        "customers_without_transactions": 0,
        "users_without_customer_row": pop.ORPHANS,
        "transactions_of_users_without_customer_row": len(orphans),
    }
    assert (report["rows_read"], report["rows_valid"], report["rows_quarantined"]) == (400, 400, 0)
    assert set(report["validation"]) == {"behaviour", "predictions", "segment_profiles"}
    _, alone = behaviour_only
    assert (alone["rows_read"], alone["rows_valid"], alone["rows_quarantined"]) == (412, 412, 0)
    assert set(alone["tables"]) == {"predictions", "segment_profiles"}  # no customer file, no quarantine
    assert all(alone["metrics"]["reconciliation"].values()) and all(report["metrics"]["reconciliation"].values())
    assert alone["metrics"]["model"]["families"] == ["behaviour"]


def test_profiles_show_recency_frequency_and_spend(spark: SparkSession, data, both) -> None:
    output, _ = both
    profiles = read_table(spark, str(output / "segment_profiles"), "delta")
    assert profiles.schema.fieldNames() == segment_profiles_schema(["demographics", "behaviour"]).fieldNames()
    found = segments(spark, output)
    majority = {
        s: Counter(data["groups"][c] for c, seg in found.items() if seg == s).most_common(1)[0][0]
        for s in set(found.values())
    }
    by_group = {majority[r.segment]: r for r in profiles.collect()}
    assert set(by_group) == set(pop.GROUPS)
    assert max(by_group, key=lambda g: by_group[g].recency_days_mean) == "lapsed"
    assert max(by_group, key=lambda g: by_group[g].monetary_median) == "loyal"
    assert min(by_group, key=lambda g: by_group[g].avg_basket_mean) == "bargain"
    assert max(by_group, key=lambda g: by_group[g].refund_share_mean) == "returner"
    assert by_group["lapsed"].frequency_mean < 3 < 15 < by_group["bargain"].frequency_mean


def plain_behaviour(data: dict, as_of: dt.date) -> dict[str, dict[str, float]]:
    """The documented definitions, in plain Python, from the generated transactions."""
    per_user: dict[str, list] = defaultdict(list)
    for user, day, amount in in_window(data, as_of):
        per_user[user].append((day, amount))
    features = {}
    for user, rows in per_user.items():
        purchases = [(d, a) for d, a in rows if a > 0]
        bought = sum((a for _, a in purchases), Decimal(0))
        refunded = -sum((a for _, a in rows if a < 0), Decimal(0))
        days = len({d for d, _ in purchases})
        features[user] = {
            "recency_days": (as_of - max(d for d, _ in purchases)).days if purchases else pop.LOOKBACK_DAYS,
            "frequency": days,
            "monetary": float(bought - refunded),
            "avg_basket": float(bought) / days if days else 0.0,
            "refund_share": float(refunded) / float(bought + refunded) if bought + refunded else 0.0,
        }
    return features


@pytest.fixture(scope="module")
def derived(spark: SparkSession, data: dict) -> Iterator[DataFrame]:
    """Spark's behaviour of every warehouse user over the window ending on AS_OF, derived once
    (cached) for the two tests that read it."""
    window = Window(pop.AS_OF, pop.LOOKBACK_DAYS)
    users = derive_behaviour(read_transactions(spark, str(data["root"] / "warehouse")), window).cache()
    yield users
    users.unpersist()


def test_spark_derives_what_the_definitions_say(data, derived: DataFrame) -> None:
    expected = plain_behaviour(data, pop.AS_OF)
    rows = {r.customer_id: {name: r[name] for name in BEHAVIOUR_FEATURES} for r in derived.collect()}
    assert rows == expected


def test_model_json_records_the_feature_set(both, behaviour_only) -> None:
    doc = json.loads((both[0] / "model.json").read_text())
    assert doc["families"] == ["demographics", "behaviour"] and doc["lookback_days"] == pop.LOOKBACK_DAYS
    numeric = {f["name"]: f for f in doc["numeric"]}
    assert list(numeric) == ["age", "annual_income", "spending_score", *BEHAVIOUR_FEATURES]
    assert {n for n, f in numeric.items() if f["transform"] == SIGNED_LOG1P} == {"monetary", "avg_basket"}
    assert doc["family_weights"] == {"demographics": 1.0, "behaviour": 1.0}
    alone = json.loads((behaviour_only[0] / "model.json").read_text())
    assert alone["families"] == ["behaviour"] and alone["categorical"] == [] and len(alone["centroids"][0]) == 5


def test_the_python_scorer_gives_sparks_segment_for_every_row(spark: SparkSession, data, both, behaviour_only) -> None:
    behaviour = plain_behaviour(data, pop.AS_OF)
    combined = load_model(both[0] / "model.json")
    spark_segments = segments(spark, both[0])
    records = [dict(zip(RAW_FIELDS, line.split(","), strict=True)) for line in data["csv"][1:]]
    assert {r["customer_id"]: combined.segment({**r, **behaviour[r["customer_id"]]}) for r in records} == spark_segments
    alone = load_model(behaviour_only[0] / "model.json")
    assert {user: alone.segment(features) for user, features in behaviour.items()} == segments(spark, behaviour_only[0])


def test_batch_scoring_repeats_the_training_segments(spark: SparkSession, data, both, behaviour_only) -> None:
    warehouse = ["--warehouse", str(data["root"] / "warehouse")]
    scored = data["root"] / "scored"
    args = ["--model", str(both[0] / "model"), "--input", str(data["root"] / "customers"), *warehouse]
    report = segment_customers.run(spark, segment_customers.parse_args([*args, "--output", str(scored)]))
    assert segments(spark, scored) == segments(spark, both[0])
    assert report["metrics"]["behaviour"]["as_of"] == "2026-11-30" and report["metrics"]["model"]["families"] == [
        "demographics",
        "behaviour",
    ]
    alone = data["root"] / "scored_alone"
    args = ["--model", str(behaviour_only[0] / "model"), *warehouse, "--output", str(alone), "--format", "parquet"]
    report = segment_customers.run(spark, segment_customers.parse_args(args))
    assert segments(spark, alone, "parquet") == segments(spark, behaviour_only[0])
    assert report["rows_read"] == len(data["truth"])


def test_scoring_needs_the_inputs_the_model_was_trained_on(spark: SparkSession, data, both, behaviour_only) -> None:
    root = data["root"]
    customers, warehouse = ["--input", str(root / "customers")], ["--warehouse", str(root / "warehouse")]
    for model, sources, message in (
        (both, customers, "was trained on behaviour: give --warehouse"),
        (behaviour_only, [*customers, *warehouse], "was not trained on demographics: --input would be ignored"),
    ):
        args = ["--model", str(model[0] / "model"), *sources, "--output", str(root / "refused")]
        with pytest.raises(InputError, match=message):
            segment_customers.run(spark, segment_customers.parse_args(args))
    assert not (root / "refused" / "run_report.json").exists()


def test_without_the_log_a_few_whales_take_segments_of_their_own(
    spark: SparkSession, data, derived: DataFrame, behaviour_only
) -> None:
    """The documented case for the log: on raw money the whales (3 % of users) stand so far from
    everyone that KMeans spends a segment on them and merges two real groups instead.

    With the log: the job's behaviour-only model, trained on these users with these settings
    (its model.json says log), so only the model without the log is fitted here."""
    doc = json.loads((behaviour_only[0] / "model.json").read_text())
    assert doc["families"] == ["behaviour"] and doc["lookback_days"] == pop.LOOKBACK_DAYS
    assert {f["name"] for f in doc["numeric"] if f["transform"] == SIGNED_LOG1P} == {"monetary", "avg_basket"}
    assert behaviour_only[1]["metrics"]["model"]["restarts"] == 4
    with_log = segments(spark, behaviour_only[0])
    features = FeatureSet(families=("behaviour",), lookback_days=pop.LOOKBACK_DAYS, log_money=False)
    trained = fit_segmentation(derived, [4], seed=1, max_iter=20, features=features, restarts=4)
    without_log = {r.customer_id: r.segment for r in predict(trained.model, derived).collect()}
    assert ari(data["truth"], with_log) >= 0.9 > ari(data["truth"], without_log)
    assert min(Counter(without_log.values()).values()) <= 0.05 * len(data["truth"])


@pytest.mark.parametrize(
    ("job", "args", "message"),
    [
        (
            customer_segmentation,
            ["--output", "o", "--as-of", "2026-11-30"],
            "required: --input (customers), --warehouse",
        ),
        (
            customer_segmentation,
            ["--input", "i", "--output", "o", "--as-of", "2026-11-30"],
            "--as-of needs --warehouse",
        ),
        (customer_segmentation, ["--warehouse", "w", "--output", "o", "--as-of", "30.11.2026"], "is not a date like"),
        (customer_segmentation, ["--warehouse", "w", "--output", "o", "--lookback-days", "0"], "must be at least 1"),
        (
            customer_segmentation,
            ["--warehouse", "w", "--input", "i", "--output", "o", "--behaviour-weight", "1.5"],
            "the behaviour weight must be above 0 and at most 1",
        ),
        (customer_segmentation, ["--warehouse", "w", "--output", "o", "--restarts", "0"], "must be at least 1"),
        (segment_customers, ["--model", "m", "--output", "o"], "required: --input (customers), --warehouse"),
    ],
)
def test_wrong_behaviour_arguments_give_one_line_and_exit_2(job, args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        job.parse_args(args)
    assert exit_info.value.code == 2
    line = error_line(capsys.readouterr().err)
    assert line.startswith(f"{job.JOB}: error: ") and message in line


def test_a_warehouse_without_transactions_stops_before_any_output(spark: SparkSession, tmp_path: Path) -> None:
    args = customer_segmentation.parse_args(["--warehouse", str(tmp_path), "--output", str(tmp_path / "out"), *K])
    with pytest.raises(InputError, match="no transactions table in the warehouse"):
        customer_segmentation.run(spark, args)
    assert not (tmp_path / "out").exists()
