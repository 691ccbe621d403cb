"""Spark job entrypoints: one module per job, each runnable with spark-submit or python -m."""
