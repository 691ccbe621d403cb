"""Customer segmentation with Spark ML: the pipeline, training over one or several k, segment
profiles, loading a saved model, and its export for `common.segment_scorer`.

    customers ─> StringIndexer (gender, marital_status; unseen -> "__unknown")      [demographics]
              ─> OneHotEncoder (dropLast: the "__unknown" slot goes, unseen -> all zeros)
              ─> SQLTransformer (signed log1p of monetary, avg_basket)               [behaviour]
              ─> VectorAssembler (age, annual_income, spending_score, behaviour numbers)
              ─> StandardScaler (z-scores)
              ─> VectorAssembler (scaled numbers + one-hot categories)
              ─> ElementwiseProduct (each family's weight; categories x category weight) = features
              ─> KMeans (k, seed) ─> segment

A `FeatureSet` says which families (demographics, behaviour or both) a model uses; the
demographic one builds exactly the stages it always did, so its segments do not change.

Only the numbers are standardised: income in currency units has a spread thousands of times
the spending score's, so Euclidean KMeans on raw values would cluster on income alone (see
docs/jobs/customer_segmentation.md). The 0/1 category columns are already on a comparable scale; dividing them by their
own spread would make a rare category (a few per cent of customers) look like a distant
outlier and give it a segment of its own. They are weighted instead (default 0.5): at full
weight two customers differing only in gender are sqrt(2) = 1.4 standard deviations apart,
enough for KMeans and the silhouette to prefer splitting a tight group by gender over
finding the real groups (seen on the generated sample: k=6 chosen, one segment all men and
one all women with the same incomes and scores); at 0.5 they are 0.7 apart: categories
shade the segments, the numbers define them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import (
    ElementwiseProduct,
    OneHotEncoder,
    OneHotEncoderModel,
    SQLTransformer,
    StandardScaler,
    StandardScalerModel,
    StringIndexer,
    StringIndexerModel,
    VectorAssembler,
)
from pyspark.ml.linalg import Vectors
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.customer_contract import (
    BEHAVIOUR,
    BEHAVIOUR_FEATURES,
    CATEGORICAL_FEATURES,
    CUSTOMER_ID,
    DEFAULT_LOOKBACK_DAYS,
    DEMOGRAPHICS,
    FAMILIES,
    LOG_SCALED,
    MONETARY,
    NUMERIC_FEATURES,
    SIGNED_LOG1P,
)
from common.errors import InputError
from common.fs import join_path, path_exists, read_text, write_text
from common.segment_scorer import BEHAVIOUR_MODEL_FORMAT, MODEL_FORMAT
from common.spark import CacheScope
from schemas import conform_to
from schemas.customers import PREDICTIONS, segment_profiles_schema, training_predictions_schema

FEATURES = "features"
UNWEIGHTED_FEATURES = "unweighted_features"
DEFAULT_CATEGORY_WEIGHT = 0.5
SEGMENT = "segment"
NUMERIC_VECTOR = "numeric_features"
SCALED_NUMERIC = "scaled_numeric_features"


FEATURE_SET_FILE = "feature_set.json"  # inside model/: what scoring must derive before the pipeline


@dataclass(frozen=True)
class FeatureSet:
    """Which feature families a model uses and how they are weighted against each other.

    Each family's columns are multiplied by its weight after standardising (as
    `category_weight` does for the one-hot columns within demographics), so a weight below 1
    lets the other family define the segments. `lookback_days` is the behaviour window.
    """

    families: tuple[str, ...] = (DEMOGRAPHICS,)
    category_weight: float = DEFAULT_CATEGORY_WEIGHT
    demographic_weight: float = 1.0
    behaviour_weight: float = 1.0
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    log_money: bool = True  # False only to show what the transform is for (docs, tests)

    def __post_init__(self) -> None:
        if (
            not self.families
            or len(set(self.families)) != len(self.families)
            or not set(self.families) <= set(FAMILIES)
        ):
            raise ValueError(f"families must be some of {list(FAMILIES)}, got {list(self.families)}")
        object.__setattr__(self, "families", tuple(f for f in FAMILIES if f in self.families))

    @property
    def demographics(self) -> bool:
        return DEMOGRAPHICS in self.families

    @property
    def behaviour(self) -> bool:
        return BEHAVIOUR in self.families

    @property
    def numeric(self) -> tuple[str, ...]:
        """The numbers, in vector order: demographic ones first."""
        return (NUMERIC_FEATURES if self.demographics else ()) + (BEHAVIOUR_FEATURES if self.behaviour else ())

    @property
    def categorical(self) -> tuple[str, ...]:
        return CATEGORICAL_FEATURES if self.demographics else ()

    def transform(self, name: str) -> str | None:
        return SIGNED_LOG1P if self.behaviour and self.log_money and name in LOG_SCALED else None

    def numeric_weights(self) -> list[float]:
        return [float(self.demographic_weight)] * len(NUMERIC_FEATURES) * self.demographics + [
            float(self.behaviour_weight)
        ] * len(BEHAVIOUR_FEATURES) * self.behaviour

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "families": list(self.families)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FeatureSet:
        return cls(**{**doc, "families": tuple(doc["families"])})


DEMOGRAPHIC = FeatureSet()


def _transformed(name: str) -> str:
    return f"{name}_log"


def _index(column: str) -> str:
    return f"{column}_index"


def _one_hot(column: str) -> str:
    return f"{column}_one_hot"


def feature_stages(features: FeatureSet = DEMOGRAPHIC) -> list[Any]:
    """The stages that turn a typed customer into the KMeans feature vector (k-independent)."""
    categorical = list(features.categorical)
    stages: list[Any] = []
    if categorical:
        stages += [
            StringIndexer(
                inputCols=categorical,
                outputCols=[_index(c) for c in categorical],
                handleInvalid="keep",  # a category unseen in training gets index numLabels, no error
                stringOrderType="alphabetAsc",  # indexes do not depend on frequencies: easier to read
            ),
            OneHotEncoder(
                inputCols=[_index(c) for c in categorical],
                outputCols=[_one_hot(c) for c in categorical],
                dropLast=True,  # the last slot is the indexer's "__unknown": unseen -> all zeros
            ),
        ]
    logged = [name for name in features.numeric if features.transform(name) == SIGNED_LOG1P]
    if logged:
        # signum * log1p(|x|): compresses the money's long tail, keeps the sign of a net refund.
        columns = ", ".join(f"signum({n}) * log1p(abs({n})) AS {_transformed(n)}" for n in logged)
        stages.append(SQLTransformer(statement=f"SELECT *, {columns} FROM __THIS__"))
    numeric = [_transformed(n) if n in logged else n for n in features.numeric]
    return [
        *stages,
        VectorAssembler(inputCols=numeric, outputCol=NUMERIC_VECTOR),
        StandardScaler(inputCol=NUMERIC_VECTOR, outputCol=SCALED_NUMERIC, withMean=True, withStd=True),
        VectorAssembler(inputCols=[SCALED_NUMERIC, *(_one_hot(c) for c in categorical)], outputCol=UNWEIGHTED_FEATURES),
    ]


def family_weighting(features_model: PipelineModel, features: FeatureSet) -> ElementwiseProduct:
    """Multiply each family's numbers by its weight and the one-hot columns by the category
    weight (times the demographic weight). Built after the feature stages are fitted: the
    number of category columns is only known then."""
    one_hot_width = 0
    if features.categorical:
        encoder: OneHotEncoderModel = _stage(features_model, OneHotEncoderModel)
        one_hot_width = sum(size - 1 for size in encoder.categorySizes)  # dropLast
    category = float(features.category_weight) * float(features.demographic_weight)
    scaling = features.numeric_weights() + [category] * one_hot_width
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
    features: FeatureSet = DEMOGRAPHIC
    restarts: int = 1

    def metrics(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "families": list(self.features.families),
            "k_tried": sorted(self.silhouette_by_k),
            "silhouette_by_k": {str(k): s for k, s in sorted(self.silhouette_by_k.items())},
            "training_seconds_by_k": {str(k): s for k, s in sorted(self.seconds_by_k.items())},
            "training_seconds": round(sum(self.seconds_by_k.values()), 3),
            "training_cost": self.training_cost,
            "iterations": self.iterations,
            "restarts": self.restarts,
        }


def fit_segmentation(
    customers: DataFrame,
    ks: Sequence[int],
    seed: int,
    max_iter: int,
    category_weight: float = DEFAULT_CATEGORY_WEIGHT,
    features: FeatureSet | None = None,
    restarts: int = 1,
) -> Trained:
    """Fit the feature stages once, KMeans for every k, and keep the best k by silhouette.

    The feature stages do not depend on k, so they are fitted once and their output cached
    while KMeans iterates over it (once per k and restart), then released. Spark's KMeans
    starts from one seeded initialisation; with `restarts` > 1 each k is fitted from seeds
    `seed`, `seed + 1`, ... and the fit with the lowest cost (within-segment sum of squares)
    kept, the usual remedy for a poor local optimum. Ties on silhouette go to the
    smaller k. The result is one PipelineModel, feature stages and KMeans, so scoring needs
    nothing else (behaviour features derived beforehand: `common.behaviour`). Deterministic
    for a given seed, input and partitioning.
    """
    features = features or FeatureSet(category_weight=category_weight)
    fitted = Pipeline(stages=feature_stages(features)).fit(customers)
    weighting = family_weighting(fitted, features)
    features_model = PipelineModel(stages=[*fitted.stages, weighting])
    scores: dict[int, float] = {}
    seconds: dict[int, float] = {}
    best: KMeansModel | None = None
    with CacheScope() as cache:
        vectors = cache(features_model.transform(customers).select(CUSTOMER_ID, FEATURES))
        for k in sorted(set(ks)):
            start = time.perf_counter()
            fits = [kmeans(k, seed + r, max_iter).fit(vectors) for r in range(restarts)]
            model: KMeansModel = min(fits, key=lambda fit: fit.summary.trainingCost)  # the first on a tie
            found = len(model.clusterCenters())
            if found < k:
                raise InputError(f"KMeans found only {found} distinct clusters in the customers: too few for k={k}")
            scores[k] = silhouette(model.transform(vectors))
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
        features=features,
        restarts=restarts,
    )


def predict(model: PipelineModel, customers: DataFrame) -> DataFrame:
    """Customers with their segment (all customer columns kept, for the profiles)."""
    return model.transform(customers).select(*customers.columns, F.col(SEGMENT).cast("int"))


def predictions(scored: DataFrame) -> DataFrame:
    """The predictions table: one segment per customer."""
    return scored.transform(conform_to(PREDICTIONS))


def training_predictions(scored: DataFrame, features: FeatureSet = DEMOGRAPHIC) -> DataFrame:
    """A training run's predictions: one segment per customer, with the features its profiles
    aggregate, so `segment_profiles` of this table equals the run's profiles and an erasure
    recomputes them from the customers left (jobs/erase_users.py)."""
    return scored.transform(conform_to(training_predictions_schema(features.families)))


def profiled_families(profile_columns: Sequence[str]) -> tuple[str, ...]:
    """The families a stored `segment_profiles` table describes, read from its columns."""
    return tuple(
        family
        for family in FAMILIES
        if {f.name for f in segment_profiles_schema([family]).fields} <= set(profile_columns)
    )


def _category_shares(scored: DataFrame, column: str) -> DataFrame:
    """Per segment, category -> share of the segment's customers (a map, sorted by category)."""
    counts = scored.groupBy(SEGMENT, column).agg(F.count("*").alias("n"))
    per_segment = counts.groupBy(SEGMENT).agg(
        F.array_sort(F.collect_list(F.struct(F.col(column).alias("category"), F.col("n")))).alias("entries"),
        F.sum("n").alias("size"),
    )
    shares = F.transform("entries", lambda e: F.struct(e["category"], e["n"] / F.col("size")))
    return per_segment.select(SEGMENT, F.map_from_entries(shares).alias(f"{column}_share"))


def _range_and_mean(name: str) -> list[Any]:
    return [F.avg(name).alias(f"{name}_mean"), F.min(name).alias(f"{name}_min"), F.max(name).alias(f"{name}_max")]


def segment_profiles(scored: DataFrame, features: FeatureSet = DEMOGRAPHIC) -> DataFrame:
    """Per segment: size and share of all customers, mean / min / max of each number (and the
    median net spend), and the share of each category: what a marketer names segments by."""
    numbers = [aggregate for name in features.numeric for aggregate in _range_and_mean(name)]
    if features.behaviour:
        numbers.append(F.median(MONETARY).alias(f"{MONETARY}_median"))
    per_segment = scored.groupBy(SEGMENT).agg(F.count("*").alias("customers"), *numbers)
    total = scored.agg(F.count("*").alias("total"))
    profiles = per_segment.crossJoin(total).withColumn("share_of_customers", F.col("customers") / F.col("total"))
    for column in features.categorical:
        profiles = profiles.join(_category_shares(scored, column), SEGMENT)
    return profiles.transform(conform_to(segment_profiles_schema(features.families)))


def _stage(model: PipelineModel, kind: type) -> Any:
    matches = [stage for stage in model.stages if isinstance(stage, kind)]
    if len(matches) != 1:
        raise InputError(f"not a customer segmentation model: expected one {kind.__name__}, found {len(matches)}")
    return matches[0]


def _optional_stage(model: PipelineModel, kind: type) -> Any:
    matches = [stage for stage in model.stages if isinstance(stage, kind)]
    return _stage(model, kind) if matches else None


def load_model(spark: SparkSession, path: str) -> tuple[PipelineModel, FeatureSet]:
    """The PipelineModel saved by the training job and its feature set, or a one-line
    InputError saying why not. A model saved before feature sets existed is demographic."""
    if not path_exists(spark, join_path(path, "metadata")):
        raise InputError(f"model not found: {path} (expected the model/ folder a training run wrote)")
    try:
        model = PipelineModel.load(path)
    except Exception as exc:  # noqa: BLE001 - any load failure is a bad model, reported as one line
        text = str(getattr(exc, "java_exception", None) or exc)
        first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
        raise InputError(f"cannot load the model at {path}: {first}") from None
    features = DEMOGRAPHIC
    described = join_path(path, FEATURE_SET_FILE)
    if path_exists(spark, described):
        try:
            features = FeatureSet.from_dict(json.loads(read_text(spark, described)))
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"not a customer segmentation model: {described}: {exc}") from None
    _stage(model, KMeansModel)
    indexer = _optional_stage(model, StringIndexerModel)
    indexed = list(indexer.getInputCols()) if indexer else []
    if indexed != list(features.categorical):
        raise InputError(f"not a customer segmentation model: {path} indexes {indexed}")
    return model, features


def model_k(model: PipelineModel) -> int:
    return len(_stage(model, KMeansModel).clusterCenters())


def export_model(model: PipelineModel, features: FeatureSet = DEMOGRAPHIC, **about: Any) -> dict[str, Any]:
    """The fitted model as a small JSON-able document for `common.segment_scorer`.

    Everything scoring needs, read from the fitted stages: the feature families, category
    labels in index order, each number's transform and the scaler's means and standard
    deviations, each column's weight, and the centroids in feature order.
    """
    scaler: StandardScalerModel = _stage(model, StandardScalerModel)
    clusters: KMeansModel = _stage(model, KMeansModel)
    weighting: ElementwiseProduct = _stage(model, ElementwiseProduct)
    labels: list[list[str]] = []
    if features.categorical:
        indexer: StringIndexerModel = _stage(model, StringIndexerModel)
        encoder: OneHotEncoderModel = _stage(model, OneHotEncoderModel)
        if not (encoder.getDropLast() and indexer.getHandleInvalid() == "keep"):
            raise ValueError("the scorer assumes unseen categories are indexed last and dropped (all zeros)")
        labels = [list(labels) for labels in indexer.labelsArray]
        if list(encoder.categorySizes) != [len(ls) + 1 for ls in labels]:
            raise ValueError(f"one-hot sizes {encoder.categorySizes} do not match the labels plus '__unknown'")
    scaling = [float(v) for v in weighting.getScalingVec().toArray()]
    numeric = list(features.numeric)
    numeric_weights, category_weights = scaling[: len(numeric)], scaling[len(numeric) :]
    if numeric_weights != features.numeric_weights() or len(set(category_weights)) > 1:
        raise ValueError(f"the weights {scaling} are not those of the feature set {features}")
    category_weight = category_weights[0] if category_weights else 1.0
    behaviour = {"lookback_days": features.lookback_days} if features.behaviour else {}
    return {
        "format": BEHAVIOUR_MODEL_FORMAT if features.behaviour else MODEL_FORMAT,
        **about,
        "families": list(features.families),
        **behaviour,
        "k": len(clusters.clusterCenters()),
        "distance": "squaredEuclidean",
        "category_weight": features.category_weight if features.categorical else 1.0,
        "family_weights": {DEMOGRAPHICS: features.demographic_weight, BEHAVIOUR: features.behaviour_weight},
        "numeric": [
            {
                "name": name,
                "transform": features.transform(name),
                "mean": float(mean),
                "std": float(std),
                "weight": weight,
            }
            for name, mean, std, weight in zip(
                numeric, scaler.mean.toArray(), scaler.std.toArray(), numeric_weights, strict=True
            )
        ],
        "categorical": [
            {"name": name, "labels": ls, "weight": category_weight}
            for name, ls in zip(features.categorical, labels, strict=True)
        ],
        "centroids": [[float(v) for v in center] for center in clusters.clusterCenters()],
    }


def save_model(model: PipelineModel, path: str, features: FeatureSet = DEMOGRAPHIC) -> None:
    """Replace the model at `path` (a rerun overwrites the previous one), with its feature set
    beside the stages: scoring must derive the same features before the pipeline sees them."""
    model.write().overwrite().save(path)
    spark = SparkSession.getActiveSession()
    if spark is None:
        raise RuntimeError("saving a model needs an active SparkSession")
    write_text(spark, join_path(path, FEATURE_SET_FILE), json.dumps(features.to_dict(), indent=2) + "\n")
