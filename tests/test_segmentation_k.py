"""Choosing k: on generated customers with a known number of groups, the silhouette picks it;
and a seed makes training repeatable."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession

from common.segmentation import fit_segmentation
from jobs.customer_segmentation import parse_args
from schemas.customers import CUSTOMER

pytestmark = pytest.mark.slow

# Four groups: (age, income, spending score) centres and each group's usual marital status.
# Gender is drawn 50/50 in every group: it must not create segments of its own.
GROUP_CENTRES = [
    (25, 25_000, 80, "single"),
    (35, 100_000, 85, "married"),
    (50, 95_000, 15, "married"),
    (65, 30_000, 20, "widowed"),
]
PER_GROUP = 60


def generated_customers(spark: SparkSession, seed: int = 11) -> DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g, (age, income, score, marital) in enumerate(GROUP_CENTRES):
        for i in range(PER_GROUP):
            status = marital if rng.random() < 0.85 else str(rng.choice(["single", "married", "divorced"]))
            rows.append(
                (
                    f"g{g}-{i}",
                    int(np.clip(rng.normal(age, 4), 18, 90)),
                    "female" if rng.random() < 0.5 else "male",
                    status,
                    float(round(max(rng.normal(income, 6_000), 1_000), 2)),
                    int(np.clip(round(rng.normal(score, 5)), 1, 100)),
                )
            )
    return spark.createDataFrame(rows, CUSTOMER).repartition(2, "customer_id")


@pytest.fixture(scope="module")
def customers(spark: SparkSession) -> DataFrame:
    return generated_customers(spark).cache()


def test_k_range_argument_lists_every_k() -> None:
    args = parse_args(["--input", "i", "--output", "o", "--k-range", "2-6"])
    assert args.k_range == [2, 3, 4, 5, 6]


def test_silhouette_picks_the_number_of_groups_and_the_seed_repeats_it(customers: DataFrame) -> None:
    chosen = fit_segmentation(customers, range(2, 7), seed=3, max_iter=10)
    assert sorted(chosen.silhouette_by_k) == [2, 3, 4, 5, 6]
    assert chosen.k == 4 == max(chosen.silhouette_by_k, key=chosen.silhouette_by_k.get)
    segments = {r.customer_id: r.segment for r in chosen.model.transform(customers).collect()}
    members = {}
    for customer, segment in segments.items():
        members.setdefault(segment, set()).add(customer.split("-")[0])
    assert sorted(members.values()) == [{"g0"}, {"g1"}, {"g2"}, {"g3"}]

    again = fit_segmentation(customers, [4], seed=3, max_iter=10)
    assert again.silhouette_by_k == {4: chosen.silhouette_by_k[4]}
    assert [list(c) for c in again.model.stages[-1].clusterCenters()] == [
        list(c) for c in chosen.model.stages[-1].clusterCenters()
    ]
