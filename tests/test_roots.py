"""common/roots.py knows each kind of root by the table its loading job names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common import roots
from common.errors import InputError
from jobs import customer_segmentation, log_analytics, transaction_etl


def test_the_markers_are_the_loading_jobs_tables() -> None:
    assert roots.MARKERS == {
        roots.TRANSACTION_ROOT: transaction_etl.SILVER,
        roots.LOG_ROOT: log_analytics.LEDGER_TABLE,
        roots.SEGMENTATION_ROOT: customer_segmentation.PREDICTIONS,
    }


def test_a_root_holding_neither_is_one_line_naming_what_it_lacks(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(InputError) as refused:
        roots.root_kind(spark, str(tmp_path), "nothing done")
    assert str(refused.value) == (
        f"{tmp_path} is neither a transaction warehouse (no transactions table), a log warehouse "
        "(no loaded_files table) nor a segmentation output (no predictions table): nothing done"
    )
