"""Dagster resources: configuration and clients for PostgreSQL, Spark, stores and sources."""
