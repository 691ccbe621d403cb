"""Which job's root a path is, from the tables it holds: the one place jobs that take any root
(erase_users, maintain_tables) tell a transaction warehouse, a log warehouse and a segmentation
output apart.

The table names are those the writing jobs give them (jobs/transaction_etl.py `SILVER`,
jobs/log_analytics.py `LEDGER_TABLE`, jobs/customer_segmentation.py `PREDICTIONS`;
tests/test_roots.py pins them equal): common/ does not import jobs/.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from common import delta
from common.errors import InputError
from common.fs import join_path, path_exists

TRANSACTION_ROOT, LOG_ROOT, SEGMENTATION_ROOT = "transaction_warehouse", "log_warehouse", "segmentation_output"
# The table each kind of root is known by: the ETL's silver, the log warehouse's ledger of loaded
# files (Delta both), a segmentation output's predictions (Delta or Parquet, its --format).
MARKERS = {TRANSACTION_ROOT: "transactions", LOG_ROOT: "loaded_files", SEGMENTATION_ROOT: "predictions"}


def root_kind(spark: SparkSession, root: str, consequence: str) -> str:
    """TRANSACTION_ROOT, LOG_ROOT or SEGMENTATION_ROOT; else one line saying what `root` lacks,
    then `consequence` (what the job did not do)."""
    for kind in (TRANSACTION_ROOT, LOG_ROOT):
        if delta.table_exists(spark, join_path(root, MARKERS[kind])):
            return kind
    if path_exists(spark, join_path(root, MARKERS[SEGMENTATION_ROOT])):
        return SEGMENTATION_ROOT
    raise InputError(
        f"{root} is neither a transaction warehouse (no {MARKERS[TRANSACTION_ROOT]} table), a log warehouse "
        f"(no {MARKERS[LOG_ROOT]} table) nor a segmentation output (no {MARKERS[SEGMENTATION_ROOT]} table): "
        f"{consequence}"
    )
