"""The mission's log analysis script, as written there (schema inference, two outputs), with
its S3 paths made arguments: the baseline `make bench` measures our job against."""

import sys

from pyspark.sql import SparkSession
from pyspark.sql.functions import col

input_path, output_path = sys.argv[1], sys.argv[2]

spark = SparkSession.builder.appName("LogAnalysis").getOrCreate()

log_data = spark.read.json(input_path)

cleaned_data = log_data.filter(col("status_code").isNotNull())

user_activity = cleaned_data.groupBy("user_id").count()

error_patterns = cleaned_data.filter(col("status_code") >= 400).groupBy("status_code").count()

user_activity.write.mode("overwrite").parquet(f"{output_path}/user_activity/")
error_patterns.write.mode("overwrite").parquet(f"{output_path}/error_patterns/")
