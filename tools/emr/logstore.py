"""Delta's S3 DynamoDB log store, opt-in: two writers committing to one table at once cannot
lose a commit. Pure functions, no AWS calls.

S3 has no atomic "put if absent", so Delta's default S3 log store is safe for one writer per
table only: two clusters (a backfill overlapping the daily run) committing the same version at
once can both succeed, and one commit is silently lost. `S3DynamoDBLogStore` (the
`delta-storage-s3-dynamodb` jar every EMR 7.x image ships) first claims each commit in a
DynamoDB table with a conditional put: the second writer's claim fails, it retries on the next
version or fails with Delta's ConcurrentModification error, never overwrites.

`make emr-artifacts DELTA_LOG_STORE_TABLE=delta_log DELTA_LOG_STORE_REGION=eu-west-1` adds the
settings to both targets' spark-defaults and writes the table's CreateTable and
UpdateTimeToLive requests (Delta expires finished entries through `expireTime`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

LOG_STORE_JAR = "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar"
LOG_STORE_CLASS = "io.delta.storage.S3DynamoDBLogStore"
# The table's keys and TTL attribute, as S3DynamoDBLogStore reads and writes them.
PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE = "tablePath", "fileName", "expireTime"
TABLE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,255}")
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


@dataclass(frozen=True)
class LogStore:
    """The DynamoDB table Delta's commits are claimed in, and its region."""

    table: str
    region: str

    def __post_init__(self) -> None:
        if not TABLE_PATTERN.fullmatch(self.table):
            raise ValueError(f"a DynamoDB table name is 3-255 letters, digits, '_', '-' or '.', got {self.table!r}")
        if not REGION_PATTERN.fullmatch(self.region):
            raise ValueError(f"the log store needs an AWS region like eu-west-1, got {self.region!r}")

    def spark_properties(self) -> dict[str, str]:
        """spark-defaults: the log store for `s3://` and `s3a://` paths, its table and region
        (Delta's default region is us-east-1, so it is always given)."""
        prefix = f"spark.io.delta.storage.{LOG_STORE_CLASS.rsplit('.', 1)[-1]}"
        return {
            "spark.delta.logStore.s3.impl": LOG_STORE_CLASS,
            "spark.delta.logStore.s3a.impl": LOG_STORE_CLASS,
            f"{prefix}.ddb.tableName": self.table,
            f"{prefix}.ddb.region": self.region,
        }

    def create_table(self) -> dict[str, Any]:
        """CreateTable for the commit claims: on-demand capacity (a few writes per commit)."""
        return {
            "TableName": self.table,
            "AttributeDefinitions": [
                {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": SORT_KEY, "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "Tags": [{"Key": "project", "Value": "spark-jobs"}],
        }

    def time_to_live(self) -> dict[str, Any]:
        """UpdateTimeToLive: DynamoDB deletes entries Delta marked finished (`expireTime`)."""
        return {
            "TableName": self.table,
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        }

    def iam_statement(self) -> dict[str, Any]:
        """What the jobs' role (EC2 instance profile, Serverless runtime role) needs on the table."""
        return {
            "Sid": "DeltaLogStore",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DescribeTable"],
            "Resource": f"arn:aws:dynamodb:{self.region}:*:table/{self.table}",
        }


def with_jar(jars: str | None) -> str:
    """A `spark.jars` value with the log store's jar added."""
    listed = [jar for jar in (jars or "").split(",") if jar]
    return ",".join([*listed, LOG_STORE_JAR] if LOG_STORE_JAR not in listed else listed)


def with_log_store(configurations: list[dict[str, Any]], store: LogStore | None) -> list[dict[str, Any]]:
    """The cluster configurations with the log store in spark-defaults (the Serverless job runs
    derive theirs from it); unchanged without one."""
    if store is None:
        return configurations
    out = []
    for configuration in configurations:
        if configuration.get("Classification") == "spark-defaults":
            properties = dict(configuration.get("Properties", {}))
            properties.update(store.spark_properties())
            properties["spark.jars"] = with_jar(properties.get("spark.jars"))
            configuration = {**configuration, "Properties": properties}
        out.append(configuration)
    return out
