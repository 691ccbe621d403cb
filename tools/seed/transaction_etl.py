"""The mission's ETL script, as written there (schema inference, amounts as double, one
Parquet output), with its S3 paths made arguments: the baseline our job is measured against."""

import sys

from pyspark.sql import SparkSession
from pyspark.sql.functions import col, to_date

input_path, output_path = sys.argv[1], sys.argv[2]

spark = SparkSession.builder.appName("ETL_Pipeline").getOrCreate()

transaction_data = spark.read.json(input_path)

cleaned_data = (
    transaction_data.withColumn("transaction_date", to_date(col("timestamp")))
    .withColumn("amount", col("amount").cast("double"))
    .filter(col("amount").isNotNull())
)

aggregated_data = (
    cleaned_data.groupBy("user_id", "transaction_date").sum("amount").withColumnRenamed("sum(amount)", "total_amount")
)

aggregated_data.write.mode("overwrite").parquet(output_path)
