"""Customer segmentation with Spark ML: the pipeline, training over one or several k, segment
profiles, loading a saved model, and its export for `common.segment_scorer`.

    customers ─> StringIndexer (gender, marital_status; unseen -> "__unknown")
              ─> OneHotEncoder (dropLast: the "__unknown" slot goes, unseen -> all zeros)
              ─> VectorAssembler (age, annual_income, spending_score) ─> StandardScaler (z-scores)
              ─> VectorAssembler (scaled numbers + one-hot categories)
              ─> ElementwiseProduct (category columns x category weight) = features
              ─> KMeans (k, seed) ─> segment

Only the numbers are standardised: income in currency units has a spread thousands of times
the spending score's, so Euclidean KMeans on raw values would cluster on income alone (see
README). The 0/1 category columns are already on a comparable scale; dividing them by their
own spread would make a rare category (a few per cent of customers) look like a distant
outlier and give it a segment of its own. They are weighted instead (default 0.5): at full
weight two customers differing only in gender are sqrt(2) = 1.4 standard deviations apart,
enough for KMeans and the silhouette to prefer splitting a tight group by gender over
finding the real groups (seen on the generated sample: k=6 chosen, one segment all men and
one all women with the same incomes and scores); at 0.5 they are 0.7 apart: categories
shade the segments, the numbers define them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import (
    ElementwiseProduct,
    OneHotEncoder,
    OneHotEncoderModel,
    StandardScaler,
    StandardScalerModel,
    StringIndexer,
    StringIndexerModel,
    VectorAssembler,
)
from pyspark.ml.linalg import Vectors
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.errors import InputError
from common.fs import join_path, path_exists
from common.segment_scorer import CATEGORICAL_FEATURES, CUSTOMER_ID, MODEL_FORMAT, NUMERIC_FEATURES
from common.spark import CacheScope
from schemas import conform_to
from schemas.customers import PREDICTIONS, SEGMENT_PROFILES

FEATURES = "features"
UNWEIGHTED_FEATURES = "unweighted_features"
DEFAULT_CATEGORY_WEIGHT = 0.5
SEGMENT = "segment"
NUMERIC_VECTOR = "numeric_features"
SCALED_NUMERIC = "scaled_numeric_features"


def _index(column: str) -> str:
    return f"{column}_index"


def _one_hot(column: str) -> str:
    return f"{column}_one_hot"


def feature_stages() -> list[Any]:
    """The stages that turn a typed customer into the KMeans feature vector (k-independent)."""
    return [
        StringIndexer(
            inputCols=list(CATEGORICAL_FEATURES),
            outputCols=[_index(c) for c in CATEGORICAL_FEATURES],
            handleInvalid="keep",  # a category unseen in training gets index numLabels, no error
            stringOrderType="alphabetAsc",  # indexes do not depend on frequencies: easier to read
        ),
        OneHotEncoder(
            inputCols=[_index(c) for c in CATEGORICAL_FEATURES],
            outputCols=[_one_hot(c) for c in CATEGORICAL_FEATURES],
            dropLast=True,  # the last slot is the indexer's "__unknown": unseen -> all zeros
        ),
        VectorAssembler(inputCols=list(NUMERIC_FEATURES), outputCol=NUMERIC_VECTOR),
        StandardScaler(inputCol=NUMERIC_VECTOR, outputCol=SCALED_NUMERIC, withMean=True, withStd=True),
        VectorAssembler(
            inputCols=[SCALED_NUMERIC, *(_one_hot(c) for c in CATEGORICAL_FEATURES)], outputCol=UNWEIGHTED_FEATURES
        ),
    ]


def category_weighting(features_model: PipelineModel, weight: float) -> ElementwiseProduct:
    """Multiply the one-hot columns by `weight`, the numbers by 1. Built after the feature
    stages are fitted: the number of category columns is only known then."""
    encoder: OneHotEncoderModel = _stage(features_model, OneHotEncoderModel)
    one_hot_width = sum(size - 1 for size in encoder.categorySizes)  # dropLast
    scaling = [1.0] * len(NUMERIC_FEATURES) + [float(weight)] * one_hot_width
    return ElementwiseProduct(scalingVec=Vectors.dense(scaling), inputCol=UNWEIGHTED_FEATURES, outputCol=FEATURES)


def kmeans(k: int, seed: int, max_iter: int) -> KMeans:
    return KMeans(k=k, seed=seed, maxIter=max_iter, featuresCol=FEATURES, predictionCol=SEGMENT)


def silhouette(predictions: DataFrame) -> float:
    """Silhouette with squared Euclidean distance, as the mission's ClusteringEvaluator."""
    evaluator = ClusteringEvaluator(
        featuresCol=FEATURES, predictionCol=SEGMENT, metricName="silhouette", distanceMeasure="squaredEuclidean"
    )
    return float(evaluator.evaluate(predictions))


@dataclass
class Trained:
    """The chosen model and what choosing it measured."""

    model: PipelineModel
    k: int
    silhouette_by_k: dict[int, float] = field(default_factory=dict)
    seconds_by_k: dict[int, float] = field(default_factory=dict)
    training_cost: float = 0.0
    iterations: int = 0

    def metrics(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "k_tried": sorted(self.silhouette_by_k),
            "silhouette_by_k": {str(k): s for k, s in sorted(self.silhouette_by_k.items())},
            "training_seconds_by_k": {str(k): s for k, s in sorted(self.seconds_by_k.items())},
            "training_seconds": round(sum(self.seconds_by_k.values()), 3),
            "training_cost": self.training_cost,
            "iterations": self.iterations,
        }


def fit_segmentation(
    customers: DataFrame,
    ks: Sequence[int],
    seed: int,
    max_iter: int,
    category_weight: float = DEFAULT_CATEGORY_WEIGHT,
) -> Trained:
    """Fit the feature stages once, KMeans for every k, and keep the best k by silhouette.

    The feature stages do not depend on k, so they are fitted once and their output cached
    while KMeans iterates over it (once per k), then released. Ties on silhouette go to the
    smaller k. The result is one PipelineModel, feature stages and KMeans, so scoring needs
    nothing else. Deterministic for a given seed, input and partitioning.
    """
    fitted = Pipeline(stages=feature_stages()).fit(customers)
    features_model = PipelineModel(stages=[*fitted.stages, category_weighting(fitted, category_weight)])
    scores: dict[int, float] = {}
    seconds: dict[int, float] = {}
    best: KMeansModel | None = None
    with CacheScope() as cache:
        features = cache(features_model.transform(customers).select(CUSTOMER_ID, FEATURES))
        for k in sorted(set(ks)):
            start = time.perf_counter()
            model: KMeansModel = kmeans(k, seed, max_iter).fit(features)
            found = len(model.clusterCenters())
            if found < k:
                raise InputError(f"KMeans found only {found} distinct clusters in the customers: too few for k={k}")
            scores[k] = silhouette(model.transform(features))
            seconds[k] = round(time.perf_counter() - start, 3)
            if best is None or scores[k] > scores[best.getK()]:
                best = model
    if best is None:
        raise ValueError("no k to try")
    return Trained(
        model=PipelineModel(stages=[*features_model.stages, best]),
        k=best.getK(),
        silhouette_by_k=scores,
        seconds_by_k=seconds,
        training_cost=float(best.summary.trainingCost),
        iterations=int(best.summary.numIter),
    )


def predict(model: PipelineModel, customers: DataFrame) -> DataFrame:
    """Customers with their segment (all customer columns kept, for the profiles)."""
    return model.transform(customers).select(*customers.columns, F.col(SEGMENT).cast("int"))


def predictions(scored: DataFrame) -> DataFrame:
    """The predictions table: one segment per customer."""
    return scored.transform(conform_to(PREDICTIONS))


def _category_shares(scored: DataFrame, column: str) -> DataFrame:
    """Per segment, category -> share of the segment's customers (a map, sorted by category)."""
    counts = scored.groupBy(SEGMENT, column).agg(F.count("*").alias("n"))
    per_segment = counts.groupBy(SEGMENT).agg(
        F.array_sort(F.collect_list(F.struct(F.col(column).alias("category"), F.col("n")))).alias("entries"),
        F.sum("n").alias("size"),
    )
    shares = F.transform("entries", lambda e: F.struct(e["category"], e["n"] / F.col("size")))
    return per_segment.select(SEGMENT, F.map_from_entries(shares).alias(f"{column}_share"))


def segment_profiles(scored: DataFrame) -> DataFrame:
    """Per segment: size and share of all customers, mean / min / max of each number, and the
    share of each category."""
    numbers = [
        aggregate
        for name in NUMERIC_FEATURES
        for aggregate in (
            F.avg(name).alias(f"{name}_mean"),
            F.min(name).alias(f"{name}_min"),
            F.max(name).alias(f"{name}_max"),
        )
    ]
    per_segment = scored.groupBy(SEGMENT).agg(F.count("*").alias("customers"), *numbers)
    total = scored.agg(F.count("*").alias("total"))
    profiles = per_segment.crossJoin(total).withColumn("share_of_customers", F.col("customers") / F.col("total"))
    for column in CATEGORICAL_FEATURES:
        profiles = profiles.join(_category_shares(scored, column), SEGMENT)
    return profiles.transform(conform_to(SEGMENT_PROFILES))


def _stage(model: PipelineModel, kind: type) -> Any:
    matches = [stage for stage in model.stages if isinstance(stage, kind)]
    if len(matches) != 1:
        raise InputError(f"not a customer segmentation model: expected one {kind.__name__}, found {len(matches)}")
    return matches[0]


def load_model(spark: SparkSession, path: str) -> PipelineModel:
    """The PipelineModel saved by the training job, or a one-line InputError saying why not."""
    if not path_exists(spark, join_path(path, "metadata")):
        raise InputError(f"model not found: {path} (expected the model/ folder a training run wrote)")
    try:
        model = PipelineModel.load(path)
    except Exception as exc:  # noqa: BLE001 - any load failure is a bad model, reported as one line
        text = str(getattr(exc, "java_exception", None) or exc)
        first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
        raise InputError(f"cannot load the model at {path}: {first}") from None
    indexer = _stage(model, StringIndexerModel)
    _stage(model, KMeansModel)
    if list(indexer.getInputCols()) != list(CATEGORICAL_FEATURES):
        raise InputError(f"not a customer segmentation model: {path} indexes {indexer.getInputCols()}")
    return model


def model_k(model: PipelineModel) -> int:
    return len(_stage(model, KMeansModel).clusterCenters())


def export_model(model: PipelineModel, **about: Any) -> dict[str, Any]:
    """The fitted model as a small JSON-able document for `common.segment_scorer`.

    Everything scoring needs, read from the fitted stages: category labels in index order,
    the scaler's means and standard deviations, and the centroids in feature order.
    """
    indexer: StringIndexerModel = _stage(model, StringIndexerModel)
    encoder: OneHotEncoderModel = _stage(model, OneHotEncoderModel)
    scaler: StandardScalerModel = _stage(model, StandardScalerModel)
    clusters: KMeansModel = _stage(model, KMeansModel)
    weighting: ElementwiseProduct = _stage(model, ElementwiseProduct)
    if not (encoder.getDropLast() and indexer.getHandleInvalid() == "keep"):
        raise ValueError("the scorer assumes unseen categories are indexed last and dropped (all zeros)")
    labels = [list(labels) for labels in indexer.labelsArray]
    if list(encoder.categorySizes) != [len(ls) + 1 for ls in labels]:
        raise ValueError(f"one-hot sizes {encoder.categorySizes} do not match the labels plus '__unknown'")
    scaling = [float(v) for v in weighting.getScalingVec().toArray()]
    numeric_scaling, category_weight = scaling[: len(NUMERIC_FEATURES)], scaling[len(NUMERIC_FEATURES) :]
    if set(numeric_scaling) != {1.0} or len(set(category_weight)) > 1:
        raise ValueError(f"the scorer assumes numbers weighted 1 and one weight for every category: {scaling}")
    return {
        "format": MODEL_FORMAT,
        **about,
        "k": len(clusters.clusterCenters()),
        "distance": "squaredEuclidean",
        "category_weight": category_weight[0] if category_weight else 1.0,
        "numeric": [
            {"name": name, "mean": float(mean), "std": float(std)}
            for name, mean, std in zip(NUMERIC_FEATURES, scaler.mean.toArray(), scaler.std.toArray(), strict=True)
        ],
        "categorical": [{"name": name, "labels": ls} for name, ls in zip(CATEGORICAL_FEATURES, labels, strict=True)],
        "centroids": [[float(v) for v in center] for center in clusters.clusterCenters()],
    }


def save_model(model: PipelineModel, path: str) -> None:
    """Replace the model at `path` (a rerun overwrites the previous one)."""
    model.write().overwrite().save(path)
