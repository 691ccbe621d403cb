"""Every job's output tables and their contract, by job name.

The one list a reader of the outputs can trust: the golden tests compare what each job writes
with these schemas, and the docs test compares each job's page (docs/jobs/<job>.md) with them,
so the code, the tests and the documentation name the same columns and types.
"""

from collections.abc import Mapping

from pyspark.sql.types import StructType

from common.customer_contract import FAMILIES
from schemas.customers import PREDICTIONS, segment_profiles_schema, training_predictions_schema
from schemas.erasure import ERASED_USERS
from schemas.logs import (
    ACTIVITY_WINDOWS,
    ANOMALIES,
    DAILY_ENGAGEMENT,
    ERROR_PATTERNS,
    EVENTS,
    LOADED_FILES,
    USER_ACTIVITY,
)
from schemas.quarantine import DATED_QUARANTINE, QUARANTINE
from schemas.transactions import DAILY_USER_TOTALS, ETL_QUARANTINE, TRANSACTIONS, USER_PROFILES

OUTPUT_TABLES: Mapping[str, Mapping[str, StructType]] = {
    "log_analytics": {
        "user_activity": USER_ACTIVITY,
        "error_patterns": ERROR_PATTERNS,
        "activity_windows": ACTIVITY_WINDOWS,
        "anomalies": ANOMALIES,
        "daily_engagement": DAILY_ENGAGEMENT,
        "quarantine": DATED_QUARANTINE,
        "events": EVENTS,
        "loaded_files": LOADED_FILES,
    },
    "transaction_etl": {
        "transactions": TRANSACTIONS,
        "daily_user_totals": DAILY_USER_TOTALS,
        "user_profiles": USER_PROFILES,
        "quarantine": ETL_QUARANTINE,
    },
    # A model's predictions and profiles have the columns of the families it was trained on;
    # this is the union (both families), in the order any model's columns come.
    "customer_segmentation": {
        "predictions": training_predictions_schema(FAMILIES),
        "segment_profiles": segment_profiles_schema(FAMILIES),
        "quarantine": QUARANTINE,
    },
    "segment_customers": {
        "predictions": PREDICTIONS,
        "quarantine": QUARANTINE,
    },
    # Erasure keeps the hashed ids in the root it erased from.
    "erase_users": {"erased_users": ERASED_USERS},
    # Maintenance and the dashboard builder write a report and a page, no table.
    "maintain_tables": {},
    "build_dashboard": {},
}
