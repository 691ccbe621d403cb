"""The mission's customer segmentation pipeline, as written there (schema inference, `dropna`,
StringIndexer + VectorAssembler, KMeans(k=5, seed=1)), with its S3 paths made arguments and
its two scripts (prepare, train) run as one: the baseline `make bench` measures our training
and scoring against.

    customer_segmentation.py train <customers.csv> <out>     model in <out>/model, predictions
    customer_segmentation.py score <out>/model <new.csv> <predictions out>

Three departures, each the least that makes it run on a real file: the mission selects a
`customer_segment` column the customer file does not have (this keeps `customer_id`); a file
with one unparseable number makes inference type its column as text, which KMeans cannot take
(the numbers are cast, so such a value becomes null and `dropna` drops it, as the mission's
cleaning means to); and the fitted indexer is saved with the model (the mission refits it), so
new customers are scored through the same indices.
"""

import sys

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.sql import SparkSession
from pyspark.sql.functions import col

mode, *paths = sys.argv[1:]
NUMBERS = ("age", "annual_income", "spending_score")


def load(path):
    data = spark.read.csv(path, header=True, inferSchema=True)
    return data.withColumns({name: col(name).cast("double") for name in NUMBERS}).dropna(how="any")


spark = SparkSession.builder.appName("CustomerSegmentation").getOrCreate()

if mode == "train":
    customer_input, output = paths
    customer_data = load(customer_input)
    indexer = StringIndexer(
        inputCols=["gender", "marital_status"],
        outputCols=["gender_index", "marital_status_index"],
        handleInvalid="keep",
    )
    assembler = VectorAssembler(
        inputCols=["age", "annual_income", "spending_score", "gender_index", "marital_status_index"],
        outputCol="features",
        handleInvalid="skip",
    )
    kmeans = KMeans(k=5, seed=1)
    model = Pipeline(stages=[indexer, assembler, kmeans]).fit(customer_data)
    predictions = model.transform(customer_data)
    model.write().overwrite().save(f"{output}/model")
    predictions.select("customer_id", "prediction").write.mode("overwrite").parquet(f"{output}/predictions/")
elif mode == "score":
    model_path, customer_input, output = paths
    model = PipelineModel.load(model_path)
    model.transform(load(customer_input)).select("customer_id", "prediction").write.mode("overwrite").parquet(output)
else:
    raise SystemExit(f"unknown mode {mode!r}: train or score")
