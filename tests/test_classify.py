"""Row rules and the contract classifier (common/classify.py): ordered rules, typed columns under
their contract names, raw fields dropped, row-set rules, the raw line kept only when quarantined."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.classify import REASON, Contract, Field, RowRule, classify, classify_lines, quarantined_rows, valid_rows
from common.lines import RAW_RECORD, SOURCE_FILE

RULES = [
    RowRule("missing_value", "value is null", lambda: F.col("value").isNull()),
    RowRule("negative_value", "value is below zero", lambda: F.col("value") < 0),
]


def values(spark: SparkSession, *items: int | None) -> DataFrame:
    return spark.createDataFrame([(v,) for v in items], "value int")


def test_first_broken_rule_is_the_reason_and_valid_rows_have_none(spark: SparkSession) -> None:
    rows = classify(values(spark, 3, None, -1, 0), RULES).collect()
    assert [(row.value, row[REASON]) for row in rows] == [
        (3, None),
        (None, "missing_value"),  # `value < 0` is null here: the earlier rule decides
        (-1, "negative_value"),
        (0, None),
    ]


def test_a_rule_that_cannot_decide_counts_as_broken(spark: SparkSession) -> None:
    unsure = [RowRule("unproven", "null condition", lambda: F.lit(None).cast("boolean"))]
    assert classify(values(spark, 1), unsure).first()[REASON] == "unproven"


def doubled_contract(**options: object) -> Contract:
    """`amount` (text) typed as twice its number under the name `doubled`; it must be present
    and positive once typed."""

    def rules(raw: str, typed: str) -> list[RowRule]:
        return [
            RowRule(f"missing_{raw}", "absent", lambda: F.col(raw).isNull()),
            RowRule(f"invalid_{raw}", "not positive", lambda: F.col(typed) <= 0),
        ]

    field = Field("amount", "doubled", lambda raw: raw.cast("int") * 2, rules)
    return Contract(kind="amount", line_rules=(), fields=(field,), **options)


def lines(spark: SparkSession, *amounts: str | None) -> DataFrame:
    rows = [(f'{{"amount": {a}}}', "f.jsonl", a) for a in amounts]
    return spark.createDataFrame(rows, f"{RAW_RECORD} string, {SOURCE_FILE} string, amount string")


def test_the_classifier_keeps_the_typed_values_under_their_contract_names(spark: SparkSession) -> None:
    classified = classify_lines(lines(spark, "2", None, "-1"), doubled_contract())
    assert set(classified.columns) == {"doubled", REASON, RAW_RECORD, SOURCE_FILE}
    assert [(r.doubled, r[REASON]) for r in classified.collect()] == [
        (4, None),
        (None, "missing_amount"),
        (-2, "invalid_amount"),
    ]
    assert [r.doubled for r in classified.transform(valid_rows).collect()] == [4]


def test_only_quarantined_rows_keep_their_raw_line_and_file(spark: SparkSession) -> None:
    classified = classify_lines(lines(spark, "2", "-1"), doubled_contract())
    kept = [(r[RAW_RECORD], r[SOURCE_FILE]) for r in classified.collect()]
    assert kept == [(None, None), ('{"amount": -1}', "f.jsonl")]
    assert [r.reason for r in classified.transform(quarantined_rows).collect()] == ["invalid_amount"]


def test_row_set_rules_see_contract_names_and_quarantine_with_the_raw_line(spark: SparkSession) -> None:
    def no_big_values(df: DataFrame) -> DataFrame:
        return df.withColumn(REASON, F.when(F.col("doubled") > 10, "too_big").otherwise(F.col(REASON)))

    contract = doubled_contract(then=(no_big_values,), extra_reasons=("too_big",))
    rows = classify_lines(lines(spark, "2", "9"), contract).collect()
    assert [(r[REASON], r[RAW_RECORD]) for r in rows] == [(None, None), ("too_big", '{"amount": 9}')]
    assert contract.reasons() == ["missing_amount", "invalid_amount", "too_big"]


def test_a_contract_can_keep_the_file_of_valid_rows(spark: SparkSession) -> None:
    classified = classify_lines(lines(spark, "2", "-1"), doubled_contract(ingest_file="_file"))
    assert [r["_file"] for r in classified.collect()] == ["f.jsonl", None]
