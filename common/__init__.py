"""Shared building blocks of every job: Spark session, IO, CLI, logging, validation, run report."""
