"""Which job's root a path is, from the tables it holds: the one place jobs that take any root
(erase_users, maintain_tables) tell a transaction warehouse from a log warehouse.

The table names are those the loading jobs give them (jobs/transaction_etl.py `SILVER`,
jobs/log_analytics.py `LEDGER_TABLE`; tests/test_roots.py pins them equal): common/ does not
import jobs/.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from common import delta
from common.errors import InputError
from common.fs import join_path

TRANSACTION_ROOT, LOG_ROOT = "transaction_warehouse", "log_warehouse"
# The table each kind of root is known by: the ETL's silver, the log warehouse's ledger of loaded files.
MARKERS = {TRANSACTION_ROOT: "transactions", LOG_ROOT: "loaded_files"}


def root_kind(spark: SparkSession, root: str, consequence: str) -> str:
    """TRANSACTION_ROOT or LOG_ROOT; else one line saying what `root` lacks, then `consequence`
    (what the job did not do)."""
    for kind, table in MARKERS.items():
        if delta.table_exists(spark, join_path(root, table)):
            return kind
    raise InputError(
        f"{root} is neither a transaction warehouse (no {MARKERS[TRANSACTION_ROOT]} table) nor a log warehouse "
        f"(no {MARKERS[LOG_ROOT]} table): {consequence}"
    )
