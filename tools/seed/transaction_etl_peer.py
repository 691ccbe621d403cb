"""The transaction ETL as a competent engineer would write it in one sitting: the same work as
our job's first load, without its suites, report, MERGE or export. `make bench` times it beside
the seed script and the job, to tell what our job's extra cost buys.

    spark-submit transaction_etl_peer.py <input> <output>

An explicit schema; Spark's JSON reader in PERMISSIVE mode with a corrupt-record column; the
contract's simple rules as `when` expressions giving a reason; rejected rows written with their
raw text and reason; the latest row per transaction_id; silver as Delta partitioned by date;
daily totals per user as Delta.
"""

import sys

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

input_path, output_path = sys.argv[1], sys.argv[2]

spark = (
    SparkSession.builder.appName("transaction_etl_peer")
    .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
    .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
    .config("spark.sql.session.timeZone", "UTC")
    .getOrCreate()
)

schema = StructType(
    [
        StructField("transaction_id", StringType()),
        StructField("user_id", StringType()),
        StructField("timestamp", StringType()),
        StructField("amount", StringType()),
        StructField("_corrupt_record", StringType()),
    ]
)
raw = (
    spark.read.schema(schema)
    .option("mode", "PERMISSIVE")
    .option("columnNameOfCorruptRecord", "_corrupt_record")
    .json(input_path)
    .withColumn("ts", F.to_timestamp("timestamp"))
    .withColumn("amount_value", F.col("amount").cast("decimal(18,2)"))
)

reason = (
    F.when(F.col("_corrupt_record").isNotNull(), "malformed_json")
    .when(F.trim("transaction_id") == "", "missing_transaction_id")
    .when(F.col("transaction_id").isNull(), "missing_transaction_id")
    .when(F.col("user_id").isNull() | (F.trim("user_id") == ""), "missing_user_id")
    .when(F.col("ts").isNull(), "invalid_timestamp")
    .when(F.col("amount_value").isNull(), "invalid_amount")
)
classified = raw.withColumn("reason", reason).cache()

rejected = classified.filter(F.col("reason").isNotNull()).select(
    F.coalesce("_corrupt_record", F.to_json(F.struct("transaction_id", "user_id", "timestamp", "amount"))).alias(
        "raw_record"
    ),
    "reason",
)
rejected.write.format("delta").mode("overwrite").save(f"{output_path}/quarantine")

latest = Window.partitionBy("transaction_id").orderBy(F.col("ts").desc(), F.col("amount_value").desc())
silver = (
    classified.filter(F.col("reason").isNull())
    .withColumn("rank", F.row_number().over(latest))
    .filter("rank = 1")
    .select(
        F.trim("transaction_id").alias("transaction_id"),
        F.trim("user_id").alias("user_id"),
        F.col("ts").alias("transaction_ts"),
        F.to_date("ts").alias("transaction_date"),
        F.col("amount_value").alias("amount"),
    )
)
(
    silver.repartition("transaction_date")
    .write.format("delta")
    .mode("overwrite")
    .partitionBy("transaction_date")
    .save(f"{output_path}/transactions")
)

stored = spark.read.format("delta").load(f"{output_path}/transactions")
totals = stored.groupBy("user_id", "transaction_date").agg(
    F.sum("amount").alias("total_amount"), F.count("*").alias("transaction_count")
)
totals.write.format("delta").mode("overwrite").partitionBy("transaction_date").save(f"{output_path}/daily_user_totals")
