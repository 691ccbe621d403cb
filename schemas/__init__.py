"""Explicit schemas: every input read and every output table, one module per dataset.

Column names and types here are the contract with downstream readers; tests pin them.
"""

from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType


def conform_to(schema: StructType) -> Callable[[DataFrame], DataFrame]:
    """A transform giving a DataFrame exactly the contract's columns, order and types.

    A column the contract names but the DataFrame lacks is a bug, and fails here loudly.
    """

    def conform(df: DataFrame) -> DataFrame:
        missing = [f.name for f in schema.fields if f.name not in df.columns]
        if missing:
            raise ValueError(f"columns missing for the contract: {missing}")
        return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])

    return conform
